package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/loadgen"
	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/bench/report"
	"github.com/mtlsgate/mtlsgate/internal/etcdproc"
)

// checkRun is one run of the check part: the processes, connections and
// material it measures with, and what must be undone at the end.
type checkRun struct {
	f       checkFlags
	res     *report.Check
	m       *material
	work    string
	env     []string
	self    string // this program, for the no-op server and the flooder
	cfgPath string
	srv     *harness.Proc
	serving harness.Serving
	noop    *harness.Proc
	mconns  []*grpc.ClientConn // to mtlsgate's ext_authz
	nconns  []*grpc.ClientConn // to the no-op server
	// The hot-etcd scenario's server, its etcd cluster and connections,
	// and the member's CPU seconds in each round's run.
	etcd      *etcdproc.Cluster
	esrv      *harness.Proc
	edir      string // its work directory, config and log
	ecfgPath  string
	eserving  harness.Serving
	econns    []*grpc.ClientConn
	memberCPU map[int]float64
	// resp is the OCSP scenarios' responder (nil when none runs); api is
	// the server's API, for its metrics.
	resp      *responder
	api       *harness.API
	scenarios []scenario
	verifiers map[string]*verifier
	undo      []func()
}

// close undoes what the run set up, last first.
func (c *checkRun) close() {
	for i := len(c.undo) - 1; i >= 0; i-- {
		c.undo[i]()
	}
}

func check(f checkFlags, res *report.Check) error {
	c := &checkRun{f: f, res: res, env: []string{"GOMAXPROCS=1"}, memberCPU: map[int]float64{}}
	defer c.close()
	var err error
	if c.m, err = makeMaterial(f); err != nil {
		return err
	}
	if c.self, err = os.Executable(); err != nil {
		return err
	}
	if err := c.setUp(); err != nil {
		return err
	}
	if err := c.measureRounds(); err != nil {
		return err
	}
	if err := c.measurePaced(); err != nil {
		return err
	}
	if rss, err := procstat.PeakRSS(c.srv.PID()); err == nil {
		res.ServerPeakRSSMB = float64(rss) / (1 << 20)
	}
	for _, s := range []*harness.Proc{c.srv, c.esrv} {
		if s == nil {
			continue
		}
		if err := s.Stop(30 * time.Second); err != nil {
			logf("mtlsgate stop: %v", err)
		}
	}
	if f.profileDur <= 0 {
		return nil
	}
	// The profiled server of the etcd scenarios is a replica of the etcd
	// server (the same store prefix and data directory).
	bbolt, etcd := splitScenarios(c.scenarios)
	if err := profileCheck(f, c.self, c.cfgPath, c.work, c.env, bbolt, res); err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	if len(etcd) > 0 {
		if err := profileCheck(f, c.self, c.ecfgPath, c.edir, c.env, etcd, res); err != nil {
			return fmt.Errorf("profiles on etcd: %w", err)
		}
	}
	return nil
}

// setUp starts and configures mtlsgate and the no-op server, pins the
// load generator, and dials both.
func (c *checkRun) setUp() error {
	c.work = c.f.work
	if c.work == "" {
		var err error
		if c.work, err = os.MkdirTemp("", "mtlsgate-bench-check-"); err != nil {
			return err
		}
		c.undo = append(c.undo, func() { os.RemoveAll(c.work) })
	}
	if wantsOCSP(c.f.scenarios) {
		if err := c.startOCSP(); err != nil {
			return err
		}
	}
	nodeTLS, err := c.startServer()
	if err != nil {
		return err
	}
	noopAddr, noopTLS, err := c.startNoop(nodeTLS)
	if err != nil {
		return err
	}
	c.scenarios = buildScenarios(c.f, c.m)
	bboltScenarios, etcdScenarios := splitScenarios(c.scenarios)
	if len(etcdScenarios) > 0 {
		if err := c.startEtcdServer(); err != nil {
			return err
		}
	}
	// From here on the load generator is one P on its own CPU.
	runtime.GOMAXPROCS(1)
	if c.f.clientCPUs != "" {
		if err := harness.PinSelf(c.f.clientCPUs); err != nil {
			return fmt.Errorf("pin load generator: %w", err)
		}
	}
	c.res.Setup = c.setup()
	c.verifiers = map[string]*verifier{
		"cold-ecdsa": newVerifier("ecdsa", c.m.ecdsa, c.m.ecdsa.Leaves[c.f.hot:][:min(c.f.verifyCerts, c.f.cold)]),
		"cold-rsa":   newVerifier("rsa", c.m.rsa, c.m.rsa.Leaves[:min(c.f.verifyCerts, c.f.cold)]),
	}
	if c.mconns, err = loadgen.Dial(c.serving.Authz, c.f.conns, nodeTLS); err != nil {
		return err
	}
	c.undo = append(c.undo, func() { loadgen.Close(c.mconns) })
	if c.nconns, err = loadgen.Dial(noopAddr, c.f.conns, noopTLS); err != nil {
		return err
	}
	c.undo = append(c.undo, func() { loadgen.Close(c.nconns) })
	if err := harness.UntilServed(time.Minute, func() error { return preflight(c.mconns[0], bboltScenarios) }); err != nil {
		return err
	}
	if len(etcdScenarios) == 0 {
		return nil
	}
	return harness.UntilServed(time.Minute, func() error { return preflight(c.econns[0], etcdScenarios) })
}

// startServer starts the real mtlsgate, configures it through its API and
// returns the load generator's TLS configuration: the load generator is
// an Envoy node, with a node certificate, speaking mTLS to ext_authz.
func (c *checkRun) startServer() (*tls.Config, error) {
	var err error
	extra := ""
	if c.m.ocsp != nil {
		extra = ocspServerConfig(c.f.ocspMaxEntries())
	}
	if c.cfgPath, err = serveConfig(c.work, c.f.cache, extra); err != nil {
		return nil, err
	}
	setupStart := time.Now()
	c.srv, c.serving, err = harness.StartMtlsgate([]string{c.f.bin, "serve", "--config", c.cfgPath}, c.env, c.f.serverCPUs, filepath.Join(c.work, "mtlsgate.log"))
	if err != nil {
		return nil, err
	}
	c.undo = append(c.undo, func() { c.srv.Stop(30 * time.Second) })
	api, err := harness.DialAPI(c.serving)
	if err != nil {
		return nil, err
	}
	c.api = api
	c.undo = append(c.undo, func() { api.Close() })
	crlUpload, err := configure(api, c.m)
	if err != nil {
		return nil, err
	}
	if c.m.ocsp != nil {
		if err := configureOCSPSites(api, c.m); err != nil {
			return nil, err
		}
	}
	c.res.CRLUploadSeconds = crlUpload.Seconds()
	c.res.SetupSeconds = time.Since(setupStart).Seconds()
	logf("mtlsgate configured in %s (CRL upload until loaded by ext_authz: %s)", time.Since(setupStart).Round(time.Millisecond), crlUpload.Round(time.Millisecond))
	return api.NodeTLS("default", "bench-loadgen")
}

// startNoop starts the no-op baseline, which does the same TLS work as
// mtlsgate (a two-certificate ECDSA chain, client certificate required and
// verified) so that the ratio isolates the Check, and returns its address
// and the load generator's TLS configuration for it.
func (c *checkRun) startNoop(nodeTLS *tls.Config) (string, *tls.Config, error) {
	pair, err := harness.NewServerPair()
	if err != nil {
		return "", nil, err
	}
	certFile, keyFile, err := pair.WriteFiles(c.work)
	if err != nil {
		return "", nil, err
	}
	noopTLS := nodeTLS.Clone()
	noopTLS.RootCAs = x509.NewCertPool()
	noopTLS.RootCAs.AddCert(pair.CA)
	c.noop, err = harness.Start([]string{c.self, "noop-server", "-cert", certFile, "-key", keyFile, "-client-ca", c.serving.CAFile()},
		c.env, c.f.serverCPUs, filepath.Join(c.work, "noop.log"))
	if err != nil {
		return "", nil, err
	}
	c.undo = append(c.undo, func() { c.noop.Stop(10 * time.Second) })
	addr, err := waitNoop(c.noop)
	return addr, noopTLS, err
}

// setup describes the run for the report.
func (c *checkRun) setup() report.CheckSetup {
	f := c.f
	return report.CheckSetup{
		Server: "bin/mtlsgate serve (real binary), configured through its API", ServerCPUs: f.serverCPUs, ClientCPUs: f.clientCPUs,
		Pinned: harness.Taskset != "" && f.serverCPUs != "", ServerGOMAXPROCS: 1, ClientGOMAXPROCS: 1,
		Callers: f.callers, Conns: f.conns, WarmupSeconds: f.warmup.Seconds(), DurationSeconds: f.duration.Seconds(),
		Rounds: f.rounds, PacedCallers: f.pacedCallers, HotCerts: f.hot, ColdCerts: f.cold, CacheSize: f.cache, CRLEntries: f.crl,
		Order: "each round: every mtlsgate scenario, each right after a no-op run (its baseline); medians over rounds",
	}
}

// noopWork is the no-op server's workload: the first scenario's requests.
func (c *checkRun) noopWork() loadgen.Workload {
	return loadgen.Workload{Name: "noop", Requests: c.scenarios[0].work.Requests}
}

// measureRounds runs every scenario in every round, each paired with a
// no-op run right before it, its baseline: the machine drifts within a
// round (by ±30% here), and a ratio between adjacent runs sees the least
// of it. Then it summarises.
func (c *checkRun) measureRounds() error {
	for r := 1; r <= c.f.rounds; r++ {
		for _, s := range c.scenarios {
			if err := c.measureScenario(r, s); err != nil {
				return err
			}
		}
	}
	c.res.Scenarios = summarize(c.res.Runs, c.scenarios)
	c.res.Flood.Summarize()
	for _, name := range []string{"cold-ecdsa", "cold-rsa"} {
		if v := c.verifiers[name]; len(v.verify) > 0 {
			c.res.Verify = append(c.res.Verify, v.result())
		}
	}
	c.res.DeriveVerify()
	c.res.DeriveOCSP()
	if c.etcd != nil {
		c.res.DeriveBackends(c.etcdDescription(), c.memberCPU)
	}
	return nil
}

// measureScenario runs one scenario of round r after its no-op baseline
// (and, for the cold scenarios, after measuring bare verification).
func (c *checkRun) measureScenario(r int, s scenario) error {
	ctx := context.Background()
	cfg := loadgen.Config{Callers: c.f.callers, Warmup: c.f.warmup, Duration: c.f.duration}
	if v := c.verifiers[s.name]; v != nil {
		if err := v.measure(); err != nil {
			return err
		}
	}
	var probe *ocspProbe
	if c.resp != nil && isOCSP(s.name) {
		var err error
		if probe, err = c.warmOCSP(r, s); err != nil {
			return err
		}
	}
	base, err := loadgen.Run(ctx, c.nconns, c.noopWork(), cfg, "noop", c.noop.PID())
	if err != nil {
		return err
	}
	base.Round = r
	c.res.Runs = append(c.res.Runs, base)
	logRun(base)
	var fl *flooding
	if s.name == "admin-flood" {
		if fl, err = startFlood(c.f, c.self, c.serving.Admin, c.serving.CAFile(), c.work, c.env, c.srv.PID()); err != nil {
			return err
		}
	}
	conns, pid, member := c.mconns, c.srv.PID(), 0.0
	if s.onEtcd() {
		conns, pid, member = c.econns, c.esrv.PID(), c.memberCPUSeconds()
	}
	if probe != nil {
		if err := probe.begin(); err != nil {
			return err
		}
		cfg.AtWindow = probe.atWindow
	}
	run, err := loadgen.Run(ctx, conns, s.work, cfg, "mtlsgate", pid)
	if s.onEtcd() {
		c.memberCPU[r] = c.memberCPUSeconds() - member
	}
	if fl != nil {
		if ferr := fl.stop(c.res, run, r); err == nil {
			err = ferr
		}
	}
	if err != nil {
		return err
	}
	run.Round, run.NoopRPS = r, base.RPS
	c.res.Runs = append(c.res.Runs, run)
	logRun(run)
	if probe != nil {
		return probe.finish(run, c.res.OCSP)
	}
	return nil
}

// measurePaced runs the open loop at half the measured hot rate, mtlsgate
// then the no-op server.
func (c *checkRun) measurePaced() error {
	hot := findSummary(c.res.Scenarios, "hot")
	if hot == nil || c.f.pacedDur <= 0 {
		return nil
	}
	pcfg := loadgen.Config{Callers: c.f.pacedCallers, Warmup: c.f.warmup, Duration: c.f.pacedDur, Rate: hot.RPS / 2}
	hotWork := c.scenarios[slices.IndexFunc(c.scenarios, func(s scenario) bool { return s.name == "hot" })].work
	for _, t := range []struct {
		name, scenario string
		conns          []*grpc.ClientConn
		w              loadgen.Workload
		pid            int
	}{{"mtlsgate", "hot-half-rate", c.mconns, hotWork, c.srv.PID()}, {"noop", "noop-half-rate", c.nconns, c.noopWork(), c.noop.PID()}} {
		run, err := loadgen.Run(context.Background(), t.conns, t.w, pcfg, t.name, t.pid)
		if err != nil {
			return err
		}
		run.Scenario = t.scenario
		c.res.Paced = append(c.res.Paced, run)
		logRun(run)
	}
	return nil
}

func waitNoop(p *harness.Proc) (string, error) {
	line, err := p.WaitLog(`"msg":"noop serving"`, 30*time.Second)
	if err != nil {
		return "", err
	}
	i := strings.Index(line, `"authz":"`)
	if i < 0 {
		return "", fmt.Errorf("bad noop line %q", line)
	}
	return strings.TrimSuffix(line[i+len(`"authz":"`):], `"}`), nil
}
