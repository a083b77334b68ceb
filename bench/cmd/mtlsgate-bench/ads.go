package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/bench/report"
)

// undoStack holds what a measurement must undo when it ends, last first.
type undoStack []func()

func (u *undoStack) push(f func()) { *u = append(*u, f) }

func (u *undoStack) run() {
	for i := len(*u) - 1; i >= 0; i-- {
		(*u)[i]()
	}
}

// adsServer is the real binary the ADS measurement runs against.
type adsServer struct {
	srv     *harness.Proc
	serving harness.Serving
	api     *harness.API
}

// measureADS seeds the real binary through its API, connects an ADS
// client (state of the world, then delta) and times single-site changes
// from the API call's return to the client receiving the changed cluster.
func measureADS(f cpFlags, fx *fixtures) (*report.ADSRun, error) {
	out := &report.ADSRun{Sites: f.adsSites, CAs: len(fx.cas), SeedConcurrency: f.seedConc,
		Change: "UpdateSite origin_url (new port): changes the site's origin/<host> Cluster only; " +
			"a state-of-the-world and a delta client (two connections, one fleet) wait for each change"}
	var undo undoStack
	defer undo.run()
	work := f.work
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "mtlsgate-bench-ads-"); err != nil {
			return nil, err
		}
		undo.push(func() { os.RemoveAll(work) })
	}
	s, err := startSeeded(f, fx, work, out, &undo)
	if err != nil {
		return nil, err
	}
	if f.seedOnly {
		return out, nil
	}
	if err := measureChanges(f, s.api, s, out, &undo, 8080); err != nil {
		return nil, err
	}
	if rss, err := procstat.PeakRSS(s.srv.PID()); err == nil {
		out.ServerPeakRSSMB = float64(rss) / mb
	}
	if f.etcdMembers > 0 {
		if out.Replica, err = measureReplicaADS(f, s, work, &undo); err != nil {
			return nil, fmt.Errorf("replicas on etcd: %w", err)
		}
	}
	return out, nil
}

// startSeeded starts the real binary on a store holding the fixtures: a
// copy of one seeded earlier (f.seedCache), or seeded now through the API
// (and then kept, with f.seedCache, for later runs).
func startSeeded(f cpFlags, fx *fixtures, work string, out *report.ADSRun, undo *undoStack) (*adsServer, error) {
	cfgPath, err := serveConfig(work, 10000, "")
	if err != nil {
		return nil, err
	}
	seedDir := filepath.Join(os.TempDir(), fmt.Sprintf("mtlsgate-bench-seed-%d-%d-%d-v2", f.adsSites, f.casPerSite, len(fx.cas)))
	var seed seedRecord
	if f.seedCache && report.ReadJSON(filepath.Join(seedDir, "seed.json"), &seed) == nil && seed.Sites == f.adsSites {
		if err := copyDir(filepath.Join(seedDir, "data"), filepath.Join(work, "data")); err != nil {
			return nil, err
		}
		out.SeedCached, out.SeedSeconds, out.SeedDate = true, seed.Seconds, seed.Date
		logf("using the store seeded through the API on %s (%.0f s then) from %s", seed.Date, seed.Seconds, seedDir)
	}
	argv := []string{f.bin, "serve", "--config", cfgPath}
	s, err := startADSServer(argv, filepath.Join(work, "mtlsgate.log"), undo)
	if err != nil || out.SeedCached {
		return s, err
	}
	if err := seedAPI(f, fx, s.api, out); err != nil {
		return nil, err
	}
	if !f.seedCache {
		return s, nil
	}
	// Keep a copy of the seeded store for later runs.
	if err := s.srv.Stop(30 * time.Second); err != nil {
		return nil, err
	}
	_ = os.RemoveAll(seedDir)
	if err := copyDir(filepath.Join(work, "data"), filepath.Join(seedDir, "data")); err != nil {
		return nil, err
	}
	rec := seedRecord{Sites: f.adsSites, Seconds: out.SeedSeconds, Date: time.Now().UTC().Format(time.RFC3339)}
	if err := report.WriteJSON(filepath.Join(seedDir, "seed.json"), rec); err != nil {
		return nil, err
	}
	return startADSServer(argv, filepath.Join(work, "mtlsgate-2.log"), undo)
}

// startADSServer starts the binary and dials its API.
func startADSServer(argv []string, logPath string, undo *undoStack) (*adsServer, error) {
	srv, serving, err := harness.StartMtlsgate(argv, nil, "", logPath)
	if err != nil {
		return nil, err
	}
	undo.push(func() { srv.Stop(30 * time.Second) })
	api, err := harness.DialAPI(serving)
	if err != nil {
		return nil, err
	}
	undo.push(func() { api.Close() })
	return &adsServer{srv: srv, serving: serving, api: api}, nil
}

// measureChanges connects a state-of-the-world and a delta ADS client to
// s, Envoy nodes of the bench fleet with a node certificate as `mtlsgate
// envoy bootstrap` would get them, each on its own connection as two
// Envoys of the fleet would be, and times the changes made through api
// (s's own, or another replica's). Changed origins take ports above
// portBase.
func measureChanges(f cpFlags, api *harness.API, s *adsServer, out *report.ADSRun, undo *undoStack, portBase int) error {
	n := f.adsSites
	nodeTLS, err := s.api.NodeTLS(benchNode.GetCluster(), benchNode.GetId())
	if err != nil {
		return err
	}
	dial := func() (discovery.AggregatedDiscoveryServiceClient, error) {
		conn, err := grpc.NewClient(s.serving.XDS, grpc.WithTransportCredentials(credentials.NewTLS(nodeTLS)),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
		if err != nil {
			return nil, err
		}
		undo.push(func() { conn.Close() })
		return discovery.NewAggregatedDiscoveryServiceClient(conn), nil
	}
	ads, err := dial()
	if err != nil {
		return err
	}
	var settle time.Time
	var sotw *sotwClient
	if err := harness.UntilServed(time.Minute, func() (err error) {
		settle = time.Now()
		sotw, err = newSotW(ads, n, 5*time.Minute)
		return err
	}); err != nil {
		return err
	}
	out.SettleSeconds = time.Since(settle).Seconds()
	out.SotW = sotw.initial
	logf("state of the world: all %d clusters after %s", n, time.Since(settle).Round(time.Millisecond))
	ads2, err := dial()
	if err != nil {
		return err
	}
	delta, err := newDelta(ads2, n, 5*time.Minute)
	if err != nil {
		return err
	}
	out.Delta = delta.initial
	defer sotw.close()
	defer delta.close()
	return runChanges(f, api, n, portBase, &out.SotW, sotw, &out.Delta, delta)
}
