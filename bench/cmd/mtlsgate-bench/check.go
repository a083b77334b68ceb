package main

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/loadgen"
	"github.com/mtlsgate/mtlsgate/bench/report"
)

// checkFlags are the knobs of part 1.
type checkFlags struct {
	bin, etcdBin, out, work    string
	profiles                   string
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
	ocspCache                  int
	responderCPUs              string
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
	fs.StringVar(&f.etcdBin, "etcd", "bin/etcd", "the etcd binary of the hot-etcd scenario's server")
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
	fs.StringVar(&f.scenarios, "scenarios", "hot,hot-etcd,admin-flood,cold-ecdsa,cold-rsa,crl-1m,hot-ocsp,cold-ocsp,cold-no-ocsp,permissive-none,enforce-deny", "scenarios to run")
	fs.IntVar(&f.ocspCache, "ocsp-cache", 0, "revocation.ocsp.max_entries of the server (default: twice -hot-certs; it must keep the hot certificates' answers and be far below -cold-certs)")
	fs.StringVar(&f.responderCPUs, "responder-cpus", "0", "CPUs of the OCSP responder process (\"\" for none)")
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
		f.serverCPUs, f.clientCPUs, f.responderCPUs = "", "", ""
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
