package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/loadgen"
	"github.com/mtlsgate/mtlsgate/bench/internal/pkigen"
	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/bench/report"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// checkFlags are the knobs of part 1.
type checkFlags struct {
	bin, out, work, profiles   string
	duration, warmup, pacedDur time.Duration
	profileDur                 time.Duration
	rounds, callers, conns     int
	pacedCallers               int
	hot, cold, cache, crl      int
	verifyCerts                int
	serverCPUs, clientCPUs     string
	scenarios                  string
	floodConc                  int
	floodSize                  int64
	floodRate                  float64
}

// Sites of the Check scenarios.
const (
	siteHot  = "hot.bench.test"
	siteRSA  = "rsa.bench.test"
	siteCRL  = "crl.bench.test"
	siteOpen = "open.bench.test"
)

// scenario is one workload against mtlsgate.
type scenario struct {
	name, desc string
	work       loadgen.Workload
}

func runCheck(args []string) error {
	var f checkFlags
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.StringVar(&f.bin, "bin", "bin/mtlsgate", "the mtlsgate binary")
	fs.StringVar(&f.out, "out", "bench/results/parts/check.json", "result file")
	fs.StringVar(&f.work, "work", "", "work directory (default: a new temporary one, removed afterwards)")
	fs.StringVar(&f.profiles, "profiles", "bench/results/profiles", "where CPU profiles go")
	fs.DurationVar(&f.duration, "duration", 5*time.Second, "measured time of each run")
	fs.DurationVar(&f.warmup, "warmup", 1500*time.Millisecond, "warm-up of each run (not measured)")
	fs.DurationVar(&f.pacedDur, "paced-duration", 6*time.Second, "measured time of each fixed-rate run")
	fs.DurationVar(&f.profileDur, "profile-duration", 3*time.Second, "CPU profile length per scenario (0: no profiles)")
	fs.IntVar(&f.rounds, "rounds", 5, "rounds (each: every scenario, each after its own no-op run)")
	fs.IntVar(&f.callers, "callers", 16, "concurrent callers, closed loop")
	fs.IntVar(&f.conns, "conns", 2, "gRPC connections")
	fs.IntVar(&f.pacedCallers, "paced-callers", 64, "senders of a fixed-rate run")
	fs.IntVar(&f.hot, "hot-certs", 1000, "client certificates of the hot, CRL and denial scenarios")
	fs.IntVar(&f.cold, "cold-certs", 0, "client certificates of the cold scenarios, cycled (default: authz cache size + 2000, so that every Check misses)")
	fs.IntVar(&f.cache, "authz-cache", 10000, "authz.cache_size of the server")
	fs.IntVar(&f.crl, "crl-entries", 1_000_000, "entries of the big CRL")
	fs.IntVar(&f.verifyCerts, "verify-certs", 2000, "certificates for the bare x509 Verify measurement")
	fs.StringVar(&f.serverCPUs, "server-cpus", "1", "CPUs of the server processes (taskset; \"\" for none)")
	fs.StringVar(&f.clientCPUs, "client-cpus", "0", "CPUs of the load generator (\"\" for none)")
	fs.StringVar(&f.scenarios, "scenarios", "hot,admin-flood,cold-ecdsa,cold-rsa,crl-1m,permissive-none,enforce-deny", "scenarios to run")
	fs.IntVar(&f.floodConc, "flood-conc", 12, "admin-flood: concurrent unauthenticated uploaders")
	fs.Int64Var(&f.floodSize, "flood-size", 64<<20, "admin-flood: body bytes of each upload")
	fs.Float64Var(&f.floodRate, "flood-rate", 20, "admin-flood: uploads per second per uploader, at most")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.cold == 0 {
		f.cold = f.cache + 2000
	}
	if runtime.NumCPU() < 2 {
		f.serverCPUs, f.clientCPUs = "", ""
	}
	res := &report.Check{}
	res.Begin()
	if err := check(f, res); err != nil {
		return err
	}
	res.End()
	if err := os.MkdirAll(filepath.Dir(f.out), 0o755); err != nil {
		return err
	}
	return report.WriteJSON(f.out, res)
}

// material is every certificate the Check scenarios use.
type material struct {
	ecdsa, rsa, crl, untrusted *pkigen.Pool
	crlDER                     []byte
	serverCA                   *pkigen.Cert
}

func makeMaterial(f checkFlags) (*material, error) {
	var m material
	var err error
	start := time.Now()
	if m.ecdsa, err = pkigen.LoadPool("ecdsa", pkigen.ECDSA, true, f.hot+f.cold); err != nil {
		return nil, err
	}
	if m.rsa, err = pkigen.LoadPool("rsa", pkigen.RSA, true, f.cold); err != nil {
		return nil, err
	}
	if m.crl, err = pkigen.LoadPool("crl", pkigen.ECDSA, false, f.hot); err != nil {
		return nil, err
	}
	if m.untrusted, err = pkigen.LoadPool("untrusted", pkigen.ECDSA, true, f.hot); err != nil {
		return nil, err
	}
	if m.crlDER, err = pkigen.BigCRL(m.crl.Issuer(), f.crl); err != nil {
		return nil, err
	}
	if m.serverCA, err = pkigen.NewRoot("Bench Server CA", pkigen.ECDSA); err != nil {
		return nil, err
	}
	logf("certificates and CRL ready in %s", time.Since(start).Round(time.Millisecond))
	return &m, nil
}

// serveConfig is the YAML config of the server under test: production
// defaults (TLS on every listener, node certificates required on ext_authz
// and xDS), loopback ports chosen by the kernel.
func serveConfig(dir string, cache int) (string, error) {
	cfg := fmt.Sprintf(`data: %s
admin_addr: 127.0.0.1:0
authz_addr: 127.0.0.1:0
xds_addr: 127.0.0.1:0
log_level: info
authz:
  cache_size: %d
`, filepath.Join(dir, "data"), cache)
	path := filepath.Join(dir, "mtlsgate.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// configure creates the CAs, sites and the big CRL through the API.
func configure(api *harness.API, m *material) (crlUpload time.Duration, err error) {
	ids := map[string]string{}
	for name, p := range map[string]*pkigen.Pool{"ecdsa": m.ecdsa, "rsa": m.rsa, "crl": m.crl} {
		ctx, cancel := api.Ctx(time.Minute)
		ca, err := api.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: "bench-" + name, Bundle: p.CABundle()})
		cancel()
		if err != nil {
			return 0, fmt.Errorf("create CA %s: %w", name, err)
		}
		ids[name] = ca.GetId()
	}
	sites := []struct {
		host string
		ca   string
		mode pb.Mode
	}{
		{siteHot, "ecdsa", pb.Mode_MODE_ENFORCE},
		{siteRSA, "rsa", pb.Mode_MODE_ENFORCE},
		{siteCRL, "crl", pb.Mode_MODE_ENFORCE},
		{siteOpen, "ecdsa", pb.Mode_MODE_PERMISSIVE},
	}
	for _, s := range sites {
		srv, err := pkigen.Server(m.serverCA, s.host)
		if err != nil {
			return 0, err
		}
		ctx, cancel := api.Ctx(time.Minute)
		_, err = api.CreateSite(ctx, &pb.CreateSiteRequest{Site: &pb.Site{
			Hostname: s.host, OriginUrl: "http://127.0.0.1:8080", CaIds: []string{ids[s.ca]},
			Settings: &pb.ClientCertSettings{Mode: s.mode, Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_LEAF}},
			ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
				CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM())}}},
		}})
		cancel()
		if err != nil {
			return 0, fmt.Errorf("create site %s: %w", s.host, err)
		}
	}
	ctx, cancel := api.Ctx(5 * time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := api.CreateCRL(ctx, &pb.CreateCRLRequest{Crl: m.crlDER}); err != nil {
		return 0, fmt.Errorf("upload CRL: %w", err)
	}
	// Loaded by ext_authz once its CRL metric exists.
	if err := api.WaitMetric("mtlsgate_crl_next_update_seconds{", 2*time.Minute); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// scenarios builds the workloads (encoded once).
func buildScenarios(f checkFlags, m *material) []scenario {
	certs := func(p *pkigen.Pool, from, to int) [][]byte {
		out := make([][]byte, 0, to-from)
		for i := from; i < to; i++ {
			out = append(out, p.LeafPEM(i))
		}
		return out
	}
	reqs := func(site string, pems [][]byte, n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			var pem []byte
			if pems != nil {
				pem = pems[i%len(pems)]
			}
			out[i] = loadgen.Encode(loadgen.EnvoyRequest(site, pem, i))
		}
		return out
	}
	hot := certs(m.ecdsa, 0, f.hot)
	all := []scenario{
		{"hot", fmt.Sprintf("enforce, ECDSA chain, %d certificates, verdicts cached", f.hot),
			loadgen.Workload{Requests: reqs(siteHot, hot, len(hot))}},
		{"admin-flood", fmt.Sprintf("hot, while %d senders POST unauthenticated %d MiB uploads (CRL over JSON and gRPC) to the admin port, each at most %.0f/s", f.floodConc, f.floodSize>>20, f.floodRate),
			loadgen.Workload{Requests: reqs(siteHot, hot, len(hot))}},
		{"cold-ecdsa", fmt.Sprintf("enforce, ECDSA P-256 chain (leaf, intermediate, root), %d certificates cycled through a %d-entry cache: every Check verifies", f.cold, f.cache),
			loadgen.Workload{Requests: reqs(siteHot, certs(m.ecdsa, f.hot, f.hot+f.cold), f.cold)}},
		{"cold-rsa", fmt.Sprintf("enforce, RSA-2048 chain, %d certificates cycled: every Check verifies", f.cold),
			loadgen.Workload{Requests: reqs(siteRSA, certs(m.rsa, 0, f.cold), f.cold)}},
		{"crl-1m", fmt.Sprintf("enforce, issuer with a %d-entry CRL (leaf check), %d certificates, verdicts cached", f.crl, f.hot),
			loadgen.Workload{Requests: reqs(siteCRL, certs(m.crl, 0, f.hot), f.hot)}},
		{"permissive-none", "permissive site, no client certificate",
			loadgen.Workload{Requests: reqs(siteOpen, nil, 1000)}},
		{"enforce-deny", fmt.Sprintf("enforce, %d untrusted certificates (403 untrusted, decision logged), verdicts cached", f.hot),
			loadgen.Workload{Requests: reqs(siteHot, certs(m.untrusted, 0, f.hot), f.hot), Expect: 7}},
	}
	want := strings.Split(f.scenarios, ",")
	var out []scenario
	for _, s := range all {
		if slices.Contains(want, s.name) {
			s.work.Name = s.name
			out = append(out, s)
		}
	}
	return out
}

// checkRun is one run of the check part: the processes, connections and
// material it measures with, and what must be undone at the end.
type checkRun struct {
	f         checkFlags
	res       *report.Check
	m         *material
	work      string
	env       []string
	self      string // this program, for the no-op server and the flooder
	cfgPath   string
	srv       *harness.Proc
	serving   harness.Serving
	noop      *harness.Proc
	mconns    []*grpc.ClientConn // to mtlsgate's ext_authz
	nconns    []*grpc.ClientConn // to the no-op server
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
	c := &checkRun{f: f, res: res, env: []string{"GOMAXPROCS=1"}}
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
	if err := c.srv.Stop(30 * time.Second); err != nil {
		logf("mtlsgate stop: %v", err)
	}
	if f.profileDur > 0 {
		if err := profileCheck(f, c.self, c.cfgPath, c.work, c.env, c.scenarios, res); err != nil {
			return fmt.Errorf("profiles: %w", err)
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
	nodeTLS, err := c.startServer()
	if err != nil {
		return err
	}
	noopAddr, noopTLS, err := c.startNoop(nodeTLS)
	if err != nil {
		return err
	}
	c.scenarios = buildScenarios(c.f, c.m)
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
	return harness.UntilServed(time.Minute, func() error { return preflight(c.mconns[0], c.scenarios) })
}

// startServer starts the real mtlsgate, configures it through its API and
// returns the load generator's TLS configuration: the load generator is
// an Envoy node, with a node certificate, speaking mTLS to ext_authz.
func (c *checkRun) startServer() (*tls.Config, error) {
	var err error
	if c.cfgPath, err = serveConfig(c.work, c.f.cache); err != nil {
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
	defer api.Close()
	crlUpload, err := configure(api, c.m)
	if err != nil {
		return nil, err
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
	run, err := loadgen.Run(ctx, c.mconns, s.work, cfg, "mtlsgate", c.srv.PID())
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

// preflight sends one request of every scenario and checks the answer.
func preflight(conn *grpc.ClientConn, scenarios []scenario) error {
	for _, s := range scenarios {
		req := s.work.Requests[0]
		var resp []byte
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := conn.Invoke(ctx, loadgen.CheckMethod, &req, &resp, grpc.ForceCodec(rawCodec{}))
		cancel()
		if err != nil {
			return fmt.Errorf("preflight %s: %w", s.name, err)
		}
		if code, _ := loadgen.StatusCode(resp); code != s.work.Expect {
			return fmt.Errorf("preflight %s: answer status %d, want %d", s.name, code, s.work.Expect)
		}
	}
	return nil
}

// rawCodec mirrors the load generator's: pre-encoded bytes both ways.
type rawCodec struct{}

func (rawCodec) Name() string                  { return "proto" }
func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(d []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), d...)
	return nil
}

func logRun(r report.LoadRun) {
	logf("%-16s %-8s %-6s %8.0f req/s  p50 %6.0fµs p99 %7.0fµs p99.9 %7.0fµs  server %.2f cores %.3f CPU-s/1000  client %.2f cores  lag p50/p99 %.0f/%.0fµs  softirq %.2f others %.2f cores steal %.1f%%  err %d unexpected %d %s",
		r.Scenario, r.Target, r.Mode, r.RPS, r.P50, r.P99, r.P999, r.ServerCPUUtil, r.CPUPer1000, r.ClientCPUUtil, r.SendLagP50, r.SendLagP99, r.IRQCPUUtil, r.OtherCPUUtil, r.StealPct, r.Errors, r.Unexpected, r.FirstError)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize takes the median of every metric over the rounds.
func summarize(runs []report.LoadRun, scenarios []scenario) []report.ScenarioSummary {
	names := []string{"noop"}
	desc := map[string]string{"noop": "no-op Check server, same gRPC and mTLS settings (node certificate required): the ceiling"}
	for _, s := range scenarios {
		names = append(names, s.name)
		desc[s.name] = s.desc
	}
	var out []report.ScenarioSummary
	for _, n := range names {
		var rps, p50, p90, p99, p999, cpu, su, cu []float64
		sum := report.ScenarioSummary{Scenario: n, Description: desc[n], Target: "mtlsgate"}
		for _, r := range runs {
			if r.Scenario != n {
				continue
			}
			sum.Target = r.Target
			sum.Runs++
			rps, p50, p90, p99, p999 = append(rps, r.RPS), append(p50, r.P50), append(p90, r.P90), append(p99, r.P99), append(p999, r.P999)
			cpu, su, cu = append(cpu, r.CPUPer1000), append(su, r.ServerCPUUtil), append(cu, r.ClientCPUUtil)
			sum.Errors += r.Errors
			sum.Unexpected += r.Unexpected
		}
		sum.RPS, sum.P50, sum.P90, sum.P99, sum.P999 = median(rps), median(p50), median(p90), median(p99), median(p999)
		sum.CPUPer1000, sum.ServerCPUUtil, sum.ClientCPUUtil = median(cpu), median(su), median(cu)
		out = append(out, sum)
	}
	// The ratio to the ceiling is taken against the no-op run paired with
	// each run (the machine drifts), then the median over rounds.
	for i := range out {
		var ratios []float64
		for _, r := range runs {
			if r.Scenario == out[i].Scenario && r.NoopRPS > 0 {
				ratios = append(ratios, r.RPS/r.NoopRPS)
			}
		}
		out[i].RoundRatios = ratios
		out[i].RatioToNoop = median(ratios)
		if out[i].Scenario == "noop" {
			out[i].RatioToNoop = 1
		}
	}
	return out
}

func findSummary(s []report.ScenarioSummary, name string) *report.ScenarioSummary {
	for i := range s {
		if s[i].Scenario == name {
			return &s[i]
		}
	}
	return nil
}

// verifier times x509.Certificate.Verify for the cold certificates of one
// chain. The baseline is standard chain verification: the self-signed CA
// certificates as Roots, the others as Intermediates, as any verifier
// (Envoy's own included) checks a leaf, intermediate, root chain. Two
// variants are timed for context: every CA certificate as a root and no
// intermediates (what ext_authz runs on a miss: one signature), and every
// CA certificate as both (what ext_authz ran before it verified CA links at
// compile time). It runs in the load generator, on its CPU, right before
// each cold run, so that all see the same machine.
type verifier struct {
	key                 string
	leaves              []*x509.Certificate
	split, anchors, all x509.VerifyOptions
	verify, parsed      []float64 // µs of CPU per certificate, one per round
	anchorsUS, allUS    []float64
}

func newVerifier(key string, p *pkigen.Pool, leaves []*x509.Certificate) *verifier {
	roots, inters, every := x509.NewCertPool(), x509.NewCertPool(), x509.NewCertPool()
	for _, ca := range p.Chain {
		every.AddCert(ca.Cert)
		if bytes.Equal(ca.Cert.RawSubject, ca.Cert.RawIssuer) {
			roots.AddCert(ca.Cert)
		} else {
			inters.AddCert(ca.Cert)
		}
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	return &verifier{key: key, leaves: leaves,
		split:   x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: usage},
		anchors: x509.VerifyOptions{Roots: every, KeyUsages: usage},
		all:     x509.VerifyOptions{Roots: every, Intermediates: every, KeyUsages: usage}}
}

// measure times each way of verifying every certificate, and parsing then
// verifying (standard split), and records the CPU time per certificate.
func (v *verifier) measure() error {
	for _, m := range []struct {
		opts  x509.VerifyOptions
		parse bool
		into  *[]float64
	}{{v.split, false, &v.verify}, {v.split, true, &v.parsed}, {v.anchors, false, &v.anchorsUS}, {v.all, false, &v.allUS}} {
		us, err := v.time(m.opts, m.parse)
		if err != nil {
			return err
		}
		*m.into = append(*m.into, us)
	}
	logf("bare x509 Verify %s: %.0f µs CPU per certificate (parse + Verify %.0f µs; anchors only %.0f µs; pool as roots and intermediates %.0f µs)",
		v.key, v.verify[len(v.verify)-1], v.parsed[len(v.parsed)-1], v.anchorsUS[len(v.anchorsUS)-1], v.allUS[len(v.allUS)-1])
	return nil
}

// time verifies every certificate with opts and returns the CPU µs per
// certificate.
func (v *verifier) time(opts x509.VerifyOptions, parse bool) (float64, error) {
	runtime.GC()
	t0 := procstat.SelfCPU()
	for _, l := range v.leaves {
		if parse {
			var err error
			if l, err = x509.ParseCertificate(l.Raw); err != nil {
				return 0, err
			}
		}
		if _, err := l.Verify(opts); err != nil {
			return 0, fmt.Errorf("bare verify %s: %w", v.key, err)
		}
	}
	return float64(procstat.SelfCPU()-t0) / 1e3 / float64(len(v.leaves)), nil
}

func (v *verifier) result() report.VerifyCost {
	return report.VerifyCost{Key: v.key, Certs: len(v.leaves), VerifyUS: median(v.verify), ParseVerify: median(v.parsed),
		AnchorsUS: median(v.anchorsUS), AllPathsUS: median(v.allUS), VerifyRounds: v.verify}
}

// profileCheck runs every scenario once more against serve-profiled (the
// same server code, with runtime/pprof) and summarises each CPU profile.
func profileCheck(f checkFlags, self, cfgPath, work string, env []string, scenarios []scenario, res *report.Check) error {
	pdir := filepath.Join(work, "profiles")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(f.profiles, 0o755); err != nil {
		return err
	}
	srv, serving, err := harness.StartMtlsgate([]string{self, "serve-profiled", "-profile-dir", pdir, "--", "--config", cfgPath},
		env, f.serverCPUs, filepath.Join(work, "profiled.log"))
	if err != nil {
		return err
	}
	defer srv.Stop(30 * time.Second)
	api, err := harness.DialAPI(serving)
	if err != nil {
		return err
	}
	defer api.Close()
	nodeTLS, err := api.NodeTLS("default", "bench-profiler")
	if err != nil {
		return err
	}
	conns, err := loadgen.Dial(serving.Authz, f.conns, nodeTLS)
	if err != nil {
		return err
	}
	defer loadgen.Close(conns)
	// Let the policy load before the first profile.
	deadline := time.Now().Add(time.Minute)
	for preflight(conns[0], scenarios) != nil {
		if time.Now().After(deadline) {
			return errors.New("profiled server never answered as expected")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, s := range scenarios {
		cfg := loadgen.Config{Callers: f.callers, Warmup: f.warmup, Duration: 0}
		if _, err := loadgen.Run(context.Background(), conns, s.work, cfg, "mtlsgate", srv.PID()); err != nil {
			return err
		}
		if err := srv.Signal(syscall.SIGUSR1); err != nil {
			return err
		}
		cfg.Warmup, cfg.Duration = 0, f.profileDur
		if _, err := loadgen.Run(context.Background(), conns, s.work, cfg, "mtlsgate", srv.PID()); err != nil {
			return err
		}
		if err := srv.Signal(syscall.SIGUSR2); err != nil {
			return err
		}
		src := filepath.Join(pdir, fmt.Sprintf("cpu-%d.pprof", i+1))
		if _, err := srv.WaitLog(fmt.Sprintf(`"msg":"profile written","n":%d`, i+1), 30*time.Second); err != nil {
			return err
		}
		dst := filepath.Join(f.profiles, "check-"+s.name+".pprof")
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		cum, flat := pprofTop(dst)
		res.Profiles = append(res.Profiles, report.Profile{Name: "check " + s.name + " (serve-profiled)", File: dst, Top: cum, Flat: flat})
		logf("profile %s written", dst)
	}
	return nil
}

// pprofTop returns `go tool pprof -top -cum` and `-top` of a profile.
func pprofTop(path string) (cum, flat string) {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	run := func(args ...string) string {
		out, err := exec.Command(goCmd, append(append([]string{"tool", "pprof"}, args...), path)...).Output()
		if err != nil {
			return "pprof failed: " + err.Error()
		}
		return strings.TrimSpace(string(out))
	}
	return run("-top", "-cum", "-nodecount=40"), run("-top", "-nodecount=20")
}
