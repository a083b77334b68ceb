package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/pkigen"
	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/internal/ocsptest"
)

// responderStats is what the responder's /stats answers.
type responderStats struct {
	Requests int64 `json:"requests"`
	GETs     int64 `json:"gets"`
}

// runResponder serves an OCSP responder for one issuer on loopback
// (internal/ocsptest, the tests' responder: x/crypto/ocsp, GET and POST,
// one signature per answer) until SIGTERM, and its request counts as JSON
// at /stats on a second listener.
func runResponder(args []string) error {
	fs := flag.NewFlagSet("ocsp-responder", flag.ContinueOnError)
	issuerFile := fs.String("issuer", "", "PEM file holding the issuer's certificate and its private key")
	validity := fs.Duration("validity", 24*time.Hour, "nextUpdate − thisUpdate of every answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	issuer, err := readIssuer(*issuerFile)
	if err != nil {
		return err
	}
	tb := &procTB{}
	defer tb.cleanup()
	r := ocsptest.Start(tb, issuer)
	r.Lock()
	r.Validity = *validity
	r.Unlock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(responderStats{Requests: r.Requests.Load(), GETs: r.GETs.Load()})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Printf("{\"msg\":\"ocsp responder serving\",\"url\":%q,\"stats\":%q}\n", r.URL, "http://"+ln.Addr().String()+"/stats")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

// procTB is the ocsptest.TB of a process: a failure ends it, cleanups run
// when it returns.
type procTB struct{ cleanups []func() }

func (*procTB) Helper() {}

func (*procTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ocsp-responder: "+format+"\n", args...)
	os.Exit(1)
}

func (t *procTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func (t *procTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// writeIssuer writes c's certificate and key as one PEM file in dir.
func writeIssuer(dir string, c *pkigen.Cert) (string, error) {
	path := filepath.Join(dir, "ocsp-issuer.pem")
	return path, os.WriteFile(path, append(c.PEM(), c.KeyPEM()...), 0o600)
}

// readIssuer reads what writeIssuer wrote.
func readIssuer(path string) (*pkigen.Cert, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &pkigen.Cert{}
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		switch b.Type {
		case "CERTIFICATE":
			c.Cert, err = x509.ParseCertificate(b.Bytes)
		case "PRIVATE KEY":
			var k any
			if k, err = x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
				c.Key, _ = k.(crypto.Signer)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if c.Cert == nil || c.Key == nil {
		return nil, fmt.Errorf("%s: no certificate and key", path)
	}
	return c, nil
}

// responder is a running ocsp-responder process.
type responder struct {
	proc  *harness.Proc
	URL   string // where certificates send OCSP requests
	stats string
	http  *http.Client
}

// startResponder starts an ocsp-responder for issuer (self is this
// program), pinned to cpus, its files in dir.
func startResponder(self, dir string, issuer *pkigen.Cert, validity time.Duration, env []string, cpus string) (*responder, error) {
	file, err := writeIssuer(dir, issuer)
	if err != nil {
		return nil, err
	}
	p, err := harness.Start([]string{self, "ocsp-responder", "-issuer", file, "-validity", validity.String()},
		env, cpus, filepath.Join(dir, "ocsp-responder.log"))
	if err != nil {
		return nil, err
	}
	line, err := p.WaitLog(`"msg":"ocsp responder serving"`, 30*time.Second)
	if err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, err
	}
	var hello struct{ URL, Stats string }
	if err := json.Unmarshal([]byte(line), &hello); err != nil || !strings.HasPrefix(hello.URL, "http://") {
		_ = p.Stop(5 * time.Second)
		return nil, fmt.Errorf("responder line %q: %v", line, err)
	}
	return &responder{proc: p, URL: hello.URL, stats: hello.Stats, http: &http.Client{Timeout: 5 * time.Second}}, nil
}

// Stop ends the responder.
func (r *responder) Stop() { _ = r.proc.Stop(10 * time.Second) }

// Requests is how many requests the responder has received.
func (r *responder) Requests() (int64, error) {
	resp, err := r.http.Get(r.stats)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var s responderStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return 0, err
	}
	return s.Requests, nil
}

// CPUSeconds is the responder's CPU time so far.
func (r *responder) CPUSeconds() float64 {
	d, err := procstat.CPU(r.proc.PID())
	if err != nil {
		return 0
	}
	return d.Seconds()
}
