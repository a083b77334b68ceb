package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/loadgen"
)

// runLoad is an ad-hoc run against any Check server: permissive-style
// requests without a certificate for -site, closed loop or at -rate.
func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9191", "ext_authz address")
	site := fs.String("site", "app.example.com", "site named in the requests")
	pid := fs.Int("pid", 0, "server process id, for its CPU time (0: none)")
	rate := fs.Float64("rate", 0, "requests/s (0: closed loop)")
	callers := fs.Int("callers", 16, "callers")
	conns := fs.Int("conns", 2, "connections")
	warmup := fs.Duration("warmup", time.Second, "warm-up")
	duration := fs.Duration("duration", 5*time.Second, "measured time")
	procs := fs.Int("gomaxprocs", 1, "GOMAXPROCS of the load generator")
	cpus := fs.String("cpus", "", "pin the load generator to these CPUs")
	expect := fs.Int("expect", -1, "expected status code in the answers (-1: any)")
	certFile := fs.String("cert", "", "node certificate (PEM) for mTLS, e.g. node.pem written by mtlsgate envoy bootstrap --out")
	keyFile := fs.String("key", "", "key of -cert")
	caFile := fs.String("ca", "", "CA the server is verified by (ca.pem)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var tc *tls.Config
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		tc = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: x509.NewCertPool()}
		if !tc.RootCAs.AppendCertsFromPEM(b) {
			return fmt.Errorf("%s holds no certificate", *caFile)
		}
	}
	runtime.GOMAXPROCS(*procs)
	if *cpus != "" {
		if err := harness.PinSelf(*cpus); err != nil {
			return err
		}
	}
	c, err := loadgen.Dial(*addr, *conns, tc)
	if err != nil {
		return err
	}
	defer loadgen.Close(c)
	w := loadgen.Workload{Name: "load", Expect: int32(*expect)}
	for i := range 1000 {
		w.Requests = append(w.Requests, loadgen.Encode(loadgen.EnvoyRequest(*site, nil, i)))
	}
	r, err := loadgen.Run(context.Background(), c, w, loadgen.Config{Callers: *callers, Warmup: *warmup, Duration: *duration, Rate: *rate}, *addr, *pid)
	if err != nil {
		return err
	}
	logRun(r)
	return nil
}
