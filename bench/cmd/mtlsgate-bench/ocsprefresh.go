package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/pkigen"
	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/bench/report"
	"github.com/mtlsgate/mtlsgate/outbound"
	"github.com/mtlsgate/mtlsgate/pki/ocspcheck"
)

// refreshFlags are the knobs of the OCSP refresh measurement.
type refreshFlags struct {
	answers, reps       int
	cpus, responderCPUs string
	profiles            string // where the profiled repetition's CPU profiles go ("": none)
}

// refreshConcurrency is ocspcache's default Concurrency, which the
// server keeps unless revocation.ocsp.concurrency says otherwise.
const refreshConcurrency = 8

// refreshBench is one measurement: the responder, the answers' serials
// and issuer, and the results.
type refreshBench struct {
	f       refreshFlags
	resp    *responder
	issuer  *x509.Certificate
	serials []*big.Int
	out     *report.OCSPRefresh
	// profile, when set, names the CPU profile of the next phase (which
	// is then not recorded).
	profile string
}

// measureOCSPRefresh measures what refreshing f.answers cached OCSP
// answers costs: for each repetition the bare exchanges (the baseline),
// then a new cache filled and refreshed once. It pins this process (the
// mtlsgate side, GOMAXPROCS 1) and the responder to a CPU each, so it
// runs last.
func measureOCSPRefresh(res *report.Revocation, f refreshFlags) error {
	if runtime.NumCPU() < 2 {
		f.cpus, f.responderCPUs = "", ""
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mtlsgate-bench-ocsp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ca, err := pkigen.NewRoot("Bench OCSP Refresh CA", pkigen.ECDSA)
	if err != nil {
		return err
	}
	b := &refreshBench{f: f, issuer: ca.Cert, serials: randomSerials(f.answers),
		out: &report.OCSPRefresh{Answers: f.answers, Concurrency: refreshConcurrency}}
	if b.resp, err = startResponder(self, dir, ca, 24*time.Hour, []string{"GOMAXPROCS=1"}, f.responderCPUs); err != nil {
		return err
	}
	defer b.resp.Stop()
	runtime.GC()
	runtime.GOMAXPROCS(1)
	pinned := "unpinned"
	if f.cpus != "" && harness.Taskset != "" {
		if err := harness.PinSelf(f.cpus); err != nil {
			return fmt.Errorf("pin: %w", err)
		}
		pinned = fmt.Sprintf("the cache on CPU %s, the responder on CPU %s", f.cpus, f.responderCPUs)
	}
	b.out.Setup = "internal/ocsptest in its own process, ECDSA P-256 signatures, answers valid 24 h, requests by GET; " +
		"GOMAXPROCS=1 on both sides, " + pinned
	for rep := 1; rep <= f.reps; rep++ {
		if err := b.repetition(rep); err != nil {
			return err
		}
	}
	b.out.Derive()
	res.OCSPRefresh = b.out
	if f.profiles != "" {
		return b.profiled(res)
	}
	return nil
}

// profiled runs one more repetition, not recorded, with a CPU profile of
// the bare exchanges and of the refresh round.
func (b *refreshBench) profiled(res *report.Revocation) error {
	if err := os.MkdirAll(b.f.profiles, 0o755); err != nil {
		return err
	}
	bareFile, refreshFile := filepath.Join(b.f.profiles, "ocsp-bare.pprof"), filepath.Join(b.f.profiles, "ocsp-refresh.pprof")
	b.profile = bareFile
	if _, err := b.phase(b.bare); err != nil {
		return err
	}
	if _, _, err := b.cacheRounds(refreshFile); err != nil {
		return err
	}
	for _, x := range []struct{ name, file string }{{"OCSP: bare exchanges", bareFile}, {"OCSP: refresh round", refreshFile}} {
		cum, flat := pprofTop(x.file)
		res.Profiles = append(res.Profiles, report.Profile{Name: x.name, File: x.file, Top: cum, Flat: flat})
	}
	return nil
}

// randomSerials returns n distinct positive serials of up to 127 bits,
// as CAs make them.
func randomSerials(n int) []*big.Int {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	seen := map[string]bool{}
	out := make([]*big.Int, 0, n)
	for len(out) < n {
		s, err := rand.Int(rand.Reader, limit)
		if err != nil || s.Sign() == 0 || seen[s.String()] {
			continue
		}
		seen[s.String()] = true
		out = append(out, s)
	}
	return out
}

// newClient is an outbound client as the server makes it for OCSP, which
// may reach loopback (revocation.outbound.allow_nets).
func newClient() (*outbound.Client, error) {
	return outbound.New(outbound.Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		outbound.Options{Timeout: 5 * time.Second, UserAgent: "mtlsgate-ocsp"})
}

// repetition measures the bare exchanges, then fills a new cache and
// refreshes it once.
func (b *refreshBench) repetition(rep int) error {
	bare, err := b.phase(b.bare)
	if err != nil {
		return fmt.Errorf("bare exchanges: %w", err)
	}
	b.out.Bare = append(b.out.Bare, bare)
	fill, refresh, err := b.cacheRounds("")
	if err != nil {
		return err
	}
	b.out.Fill, b.out.Refresh = append(b.out.Fill, fill), append(b.out.Refresh, refresh)
	logf("OCSP, %d answers, repetition %d: bare %.2f s / %.0f µs CPU each; fill %.2f s / %.0f µs; refresh round %.2f s / %.0f µs (responder %.0f µs each)",
		b.f.answers, rep, bare.WallSeconds, bare.CPUPerAnswerUS, fill.WallSeconds, fill.CPUPerAnswerUS, refresh.WallSeconds, refresh.CPUPerAnswerUS,
		1e6*refresh.ResponderCPUSeconds/float64(b.f.answers))
	return nil
}

// phase runs one pass over every answer and measures it: wall time, this
// process's CPU time and the responder's, and its requests.
func (b *refreshBench) phase(run func() error) (report.OCSPPhase, error) {
	runtime.GC()
	if b.profile != "" {
		f, err := os.Create(b.profile)
		if err != nil {
			return report.OCSPPhase{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return report.OCSPPhase{}, err
		}
		defer pprof.StopCPUProfile()
		b.profile = ""
	}
	n0, err := b.resp.Requests()
	if err != nil {
		return report.OCSPPhase{}, err
	}
	r0, c0, t0 := b.resp.CPUSeconds(), procstat.SelfCPU(), time.Now()
	err = run()
	wall, cpu, r1 := time.Since(t0), procstat.SelfCPU()-c0, b.resp.CPUSeconds()
	if err != nil {
		return report.OCSPPhase{}, err
	}
	n1, err := b.resp.Requests()
	return report.OCSPPhase{WallSeconds: wall.Seconds(), CPUSeconds: cpu.Seconds(), ResponderCPUSeconds: r1 - r0, Requests: n1 - n0,
		CPUPerAnswerUS: cpu.Seconds() * 1e6 / float64(b.f.answers)}, err
}

// eachAnswer calls fn for every answer's index, refreshConcurrency at a
// time, and returns the first error.
func (b *refreshBench) eachAnswer(fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range refreshConcurrency {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(b.serials); i = int(next.Add(1) - 1) {
				if err := fn(i); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// bare makes every exchange without the cache, as ocspcache does it: the
// request (ocspcheck), a GET through an outbound client, the answer
// verified (ocspcheck).
func (b *refreshBench) bare() error {
	client, err := newClient()
	if err != nil {
		return err
	}
	defer client.Close()
	url := strings.TrimSuffix(b.resp.URL, "/")
	enc := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D")
	return b.eachAnswer(func(i int) error {
		q := &ocspcheck.Query{Serial: b.serials[i], Issuer: b.issuer}
		der, err := q.Request()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Get(ctx, url+"/"+enc.Replace(base64.StdEncoding.EncodeToString(der)), outbound.Validators{}, 64<<10)
		if err != nil {
			return err
		}
		a, err := q.Verify(resp.Body, time.Now(), time.Minute)
		if err == nil && a.Status != ocspcheck.Good {
			err = fmt.Errorf("serial %s: %v", b.serials[i], a.Status)
		}
		return err
	})
}
