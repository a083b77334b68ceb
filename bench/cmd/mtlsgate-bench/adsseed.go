package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/report"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// seedRecord describes a cached seeded store.
type seedRecord struct {
	Sites   int     `json:"sites"`
	Seconds float64 `json:"seconds"`
	Date    string  `json:"date"`
}

// seedAPI creates the sites, then the CAs, through the API. Each CA is
// created with the list of its sites (CreateClientCA assigns it to them
// atomically): the API's batch, far cheaper than assigning CAs site by
// site while the store holds thousands of sites.
func seedAPI(f cpFlags, fx *fixtures, api *harness.API, out *report.ADSRun) error {
	n := f.adsSites
	start := time.Now()
	var done atomic.Int64
	if err := parallel(n, f.seedConc, func(i int) error {
		s := fx.newSite(i, f.casPerSite)
		s.CaIds = nil
		ctx, cancel := api.Ctx(time.Minute)
		defer cancel()
		if _, err := api.CreateSite(ctx, &pb.CreateSiteRequest{Site: s}); err != nil {
			return err
		}
		if d := done.Add(1); d%2000 == 0 {
			logf("seeded %d sites in %s", d, time.Since(start).Round(time.Second))
		}
		return nil
	}); err != nil {
		return fmt.Errorf("seed sites: %w", err)
	}
	sitesOf := make([][]string, len(fx.cas))
	for i := range n {
		for _, c := range siteCAs(i, f.casPerSite, len(fx.cas)) {
			sitesOf[c] = append(sitesOf[c], siteName(i))
		}
	}
	if err := parallel(len(fx.cas), f.seedConc, func(i int) error {
		ctx, cancel := api.Ctx(time.Minute)
		defer cancel()
		_, err := api.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: fmt.Sprintf("client-ca-%04d", i), Bundle: fx.cas[i].PEM(), Sites: sitesOf[i]})
		return err
	}); err != nil {
		return fmt.Errorf("seed CAs: %w", err)
	}
	out.SeedSeconds = time.Since(start).Seconds()
	out.SeedDate = time.Now().UTC().Format(time.RFC3339)
	logf("seeded %d sites, then %d CAs assigned to them, through the API in %s", n, len(fx.cas), time.Since(start).Round(time.Millisecond))
	return nil
}

// copyDir copies the regular files of src into dst (created).
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs f(0..n-1) on conc goroutines; the first error stops it.
func parallel(n, conc int, f func(int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range max(conc, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
