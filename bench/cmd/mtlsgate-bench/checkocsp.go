package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/loadgen"
	"github.com/mtlsgate/mtlsgate/bench/internal/pkigen"
	"github.com/mtlsgate/mtlsgate/bench/report"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Sites of the OCSP scenarios: both trust the OCSP pool's CA; the first
// checks OCSP for the leaf, the second does not (the cold baseline).
const (
	siteOCSP    = "ocsp.bench.test"
	siteOCSPOff = "ocsp-off.bench.test"
)

// isOCSP tells whether a scenario uses the OCSP pool (and its responder).
func isOCSP(name string) bool { return strings.Contains(name, "ocsp") }

// wantsOCSP tells whether any scenario asked for is an OCSP one.
func wantsOCSP(scenarios string) bool {
	for _, s := range strings.Split(scenarios, ",") {
		if isOCSP(s) {
			return true
		}
	}
	return false
}

// ocspMaxEntries is the server's revocation.ocsp.max_entries: the flag,
// else twice the hot certificates (enough to keep them all, since a trim
// keeps nine tenths).
func (f checkFlags) ocspMaxEntries() int {
	if f.ocspCache > 0 {
		return f.ocspCache
	}
	return 2 * f.hot
}

// ocspServerConfig is the server's config section for the OCSP
// scenarios: the responder is on loopback, which the outbound policy
// denies unless allowed.
func ocspServerConfig(maxEntries int) string {
	return fmt.Sprintf("revocation:\n  ocsp:\n    max_entries: %d\n  outbound:\n    allow_nets: [127.0.0.0/8]\n", maxEntries)
}

// startOCSP makes the OCSP pool (an ECDSA root and issuing CA, as the
// ecdsa pool, and leaves naming in their Authority Information Access a
// responder for that CA) and starts the responder, a process pinned with
// the load generator. The leaves are made on every run: they name the
// responder's port.
func (c *checkRun) startOCSP() error {
	start := time.Now()
	chain, err := pkigen.NewChain("ocsp", pkigen.ECDSA, true)
	if err != nil {
		return err
	}
	c.resp, err = startResponder(c.self, c.work, chain[len(chain)-1], 24*time.Hour, c.env, c.f.responderCPUs)
	if err != nil {
		return fmt.Errorf("ocsp responder: %w", err)
	}
	c.undo = append(c.undo, c.resp.Stop)
	if c.m.ocsp, err = pkigen.Leaves(chain, "ocsp", c.f.hot+c.f.cold, []string{c.resp.URL}); err != nil {
		return err
	}
	pinned := "unpinned"
	if c.f.responderCPUs != "" && harness.Taskset != "" {
		pinned = "on CPUs " + c.f.responderCPUs + " with the load generator"
	}
	c.res.OCSP = &report.OCSPCheck{MaxEntries: c.f.ocspMaxEntries(), ColdCerts: c.f.cold,
		Responder: "internal/ocsptest (x/crypto/ocsp, ECDSA P-256 signatures, answers valid 24 h) in its own process, GOMAXPROCS=1, " + pinned +
			"; the leaves name it in their Authority Information Access"}
	logf("OCSP responder at %s, %d leaves naming it made in %s", c.resp.URL, len(c.m.ocsp.Leaves), time.Since(start).Round(time.Millisecond))
	return nil
}

// configureOCSPSites creates the OCSP pool's CA and its two sites.
func configureOCSPSites(api *harness.API, m *material) error {
	ctx, cancel := api.Ctx(time.Minute)
	ca, err := api.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: "bench-ocsp", Bundle: m.ocsp.CABundle()})
	cancel()
	if err != nil {
		return fmt.Errorf("create CA ocsp: %w", err)
	}
	for host, rev := range map[string]*pb.Revocation{
		siteOCSP:    {Crl: pb.CRLCheck_CRL_CHECK_LEAF, Ocsp: pb.OCSPCheck_OCSP_CHECK_LEAF},
		siteOCSPOff: {Crl: pb.CRLCheck_CRL_CHECK_LEAF},
	} {
		settings := &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE, Revocation: rev}
		if err := createSite(api, m.serverCA, host, ca.GetId(), settings); err != nil {
			return err
		}
	}
	return nil
}

// ocspScenarios are the OCSP workloads, when the OCSP pool was made.
func ocspScenarios(f checkFlags, m *material) []scenario {
	if m.ocsp == nil {
		return nil
	}
	cold := certs(m.ocsp, f.hot, f.hot+f.cold)
	return []scenario{
		{"hot-ocsp", fmt.Sprintf("enforce, OCSP for the leaf (CRL too: none uploaded for its CA), ECDSA chain, %d certificates naming a responder on loopback, verdicts and OCSP answers cached", f.hot),
			loadgen.Workload{Requests: reqs(siteOCSP, certs(m.ocsp, 0, f.hot), f.hot)}},
		{"cold-ocsp", fmt.Sprintf("as hot-ocsp, %d certificates cycled through the %d-entry verdict cache and the %d-entry OCSP cache: every Check verifies the chain and asks the responder", f.cold, f.cache, f.ocspMaxEntries()),
			loadgen.Workload{Requests: reqs(siteOCSP, cold, f.cold)}},
		{"cold-no-ocsp", "the cold-ocsp certificates on a site of the same CA that does not check OCSP (its baseline): every Check verifies the chain",
			loadgen.Workload{Requests: reqs(siteOCSPOff, cold, f.cold)}},
	}
}

// ocspProbe counts the responder's requests and CPU around one run of an
// OCSP scenario.
type ocspProbe struct {
	resp      *responder
	api       *harness.API
	lookups   map[string]int64 // the server's OCSP lookups by result when the run started
	rec       report.OCSPRun
	start     int64 // requests when the run started
	window    [2]int64
	cpu       [2]float64
	windowAt  [2]time.Time
	firstFail error
}

// warmOCSP Checks every request of a hot OCSP scenario once per pass
// until a pass finds every answer cached (allowed, and the responder got
// no request), at most five passes, and starts the probe of its run with
// what the passes cost.
func (c *checkRun) warmOCSP(r int, s scenario) (*ocspProbe, error) {
	p := &ocspProbe{resp: c.resp, api: c.api, rec: report.OCSPRun{Round: r, Scenario: s.name}}
	if s.name != "hot-ocsp" {
		return p, nil
	}
	before, err := c.resp.Requests()
	if err != nil {
		return nil, err
	}
	for p.rec.WarmPasses < 5 {
		p.rec.WarmPasses++
		n0, _ := c.resp.Requests()
		denied := checkAll(c.mconns, s.work.Requests, c.f.callers)
		n1, err := c.resp.Requests()
		if err != nil {
			return nil, err
		}
		if denied == 0 && n1 == n0 {
			break
		}
	}
	after, _ := c.resp.Requests()
	p.rec.WarmRequests = after - before
	return p, nil
}

// checkAll sends every request once, from callers goroutines, and returns
// how many were not allowed.
func checkAll(conns []*grpc.ClientConn, requests [][]byte, callers int) int64 {
	var next, denied atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		conn := conns[i%len(conns)]
		wg.Go(func() {
			for j := next.Add(1) - 1; j < int64(len(requests)); j = next.Add(1) - 1 {
				req := requests[j]
				var resp []byte
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := conn.Invoke(ctx, loadgen.CheckMethod, &req, &resp, grpc.ForceCodec(rawCodec{}))
				cancel()
				if code, _ := loadgen.StatusCode(resp); err != nil || code != 0 {
					denied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return denied.Load()
}

// begin reads the responder's count right before the run.
func (p *ocspProbe) begin() error {
	var err error
	if p.lookups, err = ocspLookups(p.api); err != nil {
		return err
	}
	p.start, err = p.resp.Requests()
	return err
}

// ocspLookups reads the server's OCSP lookups by result
// (mtlsgate_ocsp_lookups_total).
func ocspLookups(api *harness.API) (map[string]int64, error) {
	text, err := api.Metrics()
	if err != nil {
		return nil, err
	}
	const prefix = `mtlsgate_ocsp_lookups_total{result="`
	out := map[string]int64{}
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		result, value, ok := strings.Cut(rest, `"} `)
		if v, err := strconv.ParseFloat(value, 64); ok && err == nil {
			out[result] = int64(v)
		}
	}
	return out, nil
}

// atWindow is the run's loadgen.Config.AtWindow.
func (p *ocspProbe) atWindow(end bool) {
	i := 0
	if end {
		i = 1
	}
	n, err := p.resp.Requests()
	if err != nil && p.firstFail == nil {
		p.firstFail = err
	}
	p.window[i], p.cpu[i], p.windowAt[i] = n, p.resp.CPUSeconds(), time.Now()
}

// finish records the run's counts.
func (p *ocspProbe) finish(run report.LoadRun, out *report.OCSPCheck) error {
	if p.firstFail != nil {
		return p.firstFail
	}
	n, err := p.resp.Requests()
	if err != nil {
		return err
	}
	lookups, err := ocspLookups(p.api)
	if err != nil {
		return err
	}
	p.rec.Lookups = map[string]int64{}
	for k, v := range lookups {
		if d := v - p.lookups[k]; d > 0 {
			p.rec.Lookups[k] = d
		}
	}
	p.rec.RunRequests, p.rec.WindowRequests, p.rec.Checks = n-p.start, p.window[1]-p.window[0], run.Requests
	if run.Requests > 0 {
		p.rec.PerCheck = float64(p.rec.WindowRequests) / float64(run.Requests)
	}
	if d := p.windowAt[1].Sub(p.windowAt[0]).Seconds(); d > 0 {
		p.rec.ResponderCPUUtil = (p.cpu[1] - p.cpu[0]) / d
	}
	out.Runs = append(out.Runs, p.rec)
	logf("%-16s responder: %d requests in the run, %d in the window (%.3f per Check; warm passes %d, %d requests), %.2f cores; server lookups in the run %v",
		p.rec.Scenario, p.rec.RunRequests, p.rec.WindowRequests, p.rec.PerCheck, p.rec.WarmPasses, p.rec.WarmRequests, p.rec.ResponderCPUUtil, p.rec.Lookups)
	return nil
}
