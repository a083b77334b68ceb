package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/server"
	"github.com/mtlsgate/mtlsgate/store"
)

// running is a started server and what a client needs to reach it.
type running struct {
	*server.Server
	cfg  server.Config
	pool *x509.CertPool // the CA in the data directory
	logs *syncBuffer
	stop func()
}

func start(t *testing.T, mutate func(*server.Config)) *running {
	t.Helper()
	cfg := loopbackConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.Start(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	r := &running{Server: s, cfg: cfg, logs: logs, stop: stop}
	if b, err := os.ReadFile(filepath.Join(cfg.Data, server.CAFile)); err == nil {
		r.pool = x509.NewCertPool()
		r.pool.AppendCertsFromPEM(b)
	}
	return r
}

// health calls grpc.health.v1 Check on addr with creds and returns the error.
func health(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// issueNode asks the server's API for a node certificate, as `mtlsgate
// envoy bootstrap` does: a key made here, a CSR sent.
func (r *running) issueNode(t *testing.T, id nodeid.Identity) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("passthrough:///"+r.AdminAddr(),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: r.pool, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tok, _ := os.ReadFile(filepath.Join(r.cfg.Data, server.AdminTokenFile))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := pb.NewCertificateManagerServiceClient(conn).IssueNodeCertificate(ctx, &pb.IssueNodeCertificateRequest{
		NodeId: id.Node, Fleet: id.Fleet, CsrPem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
	})
	if err != nil {
		t.Fatalf("IssueNodeCertificate: %v", err)
	}
	block, _ := pem.Decode([]byte(resp.GetCertificatePem()))
	return tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}
}

// TestListenersSpeakTLS: every listener presents a certificate from the CA
// in the data directory naming nodeid.ServerURI; ext_authz and xDS answer
// only a node certificate of that CA.
func TestListenersSpeakTLS(t *testing.T) {
	r := start(t, nil)
	if r.pool == nil {
		t.Fatal("no ca.pem in the data directory")
	}
	node := r.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"})
	other := testpki.NewRoot(t, "Other CA", testpki.Options{})
	stranger := other.Leaf(t, "edge-1", testpki.Options{URIs: []string{nodeid.Identity{Fleet: "default", Node: "edge-1"}.URI()}})
	strangerCert := tls.Certificate{Certificate: [][]byte{stranger.Cert.Raw}, PrivateKey: stranger.Key}

	for name, addr := range map[string]string{"authz": r.AuthzAddr(), "xds": r.XDSAddr()} {
		t.Run(name, func(t *testing.T) {
			verifyServer := func(cs tls.ConnectionState) error {
				leaf := cs.PeerCertificates[0]
				if len(leaf.URIs) != 1 || leaf.URIs[0].String() != nodeid.ServerURI {
					t.Errorf("serving certificate URIs %v, want %s", leaf.URIs, nodeid.ServerURI)
				}
				return nil
			}
			ok := credentials.NewTLS(&tls.Config{RootCAs: r.pool, ServerName: "localhost", Certificates: []tls.Certificate{node}, VerifyConnection: verifyServer})
			if err := health(t, addr, ok); err != nil {
				t.Fatalf("a node of the internal CA was refused: %v", err)
			}
			for what, creds := range map[string]credentials.TransportCredentials{
				"plaintext":           insecure.NewCredentials(),
				"no client cert":      credentials.NewTLS(&tls.Config{RootCAs: r.pool, ServerName: "localhost"}),
				"another CA's client": credentials.NewTLS(&tls.Config{RootCAs: r.pool, ServerName: "localhost", Certificates: []tls.Certificate{strangerCert}}),
			} {
				if err := health(t, addr, creds); err == nil {
					t.Errorf("%s was answered", what)
				}
			}
		})
	}
	get := adminGetter(t, r.cfg.Data)
	if code, body := get(t, "https://"+r.AdminAddr()+"/healthz"); code != 200 || string(body) != "ok\n" {
		t.Fatalf("admin over TLS: %d %q", code, body)
	}
}

// TestInternalCAPersists: a restart keeps the CA (node certificates stay
// valid) and the file in the data directory.
func TestInternalCAPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := start(t, func(c *server.Config) { c.Data = dir })
	caPEM, _ := os.ReadFile(filepath.Join(dir, server.CAFile))
	node := first.issueNode(t, nodeid.Identity{Fleet: "default", Node: "n"})
	first.stop()
	if err := os.Remove(filepath.Join(dir, server.CAFile)); err != nil {
		t.Fatal(err)
	}
	second := start(t, func(c *server.Config) { c.Data = dir })
	again, _ := os.ReadFile(filepath.Join(dir, server.CAFile))
	if !bytes.Equal(caPEM, again) {
		t.Fatal("the internal CA changed across a restart")
	}
	if fi, err := os.Stat(filepath.Join(dir, server.CAFile)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("ca.pem: %v %v", err, fi)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: second.pool, ServerName: "localhost", Certificates: []tls.Certificate{node}})
	if err := health(t, second.XDSAddr(), creds); err != nil {
		t.Fatalf("a node certificate from before the restart was refused: %v", err)
	}
}

// TestPlaintextOptOut: only on loopback, logged, and then the listeners
// take plaintext clients.
func TestPlaintextOptOut(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9000", "10.1.2.3:9000", "example.com:9000"} {
		cfg := server.DefaultConfig()
		cfg.TLS.InsecurePlaintext = true
		cfg.AdminAddr = addr
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "tls.insecure_plaintext") {
			t.Errorf("plaintext on %s: %v", addr, err)
		}
	}
	// Past the config check (which trusts the name "localhost"), Start
	// refuses a plaintext listener bound anywhere but loopback.
	cfg := server.DefaultConfig()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.TLS.InsecurePlaintext = true
	cfg.AdminAddr, cfg.AuthzAddr, cfg.XDSAddr = "0.0.0.0:0", "127.0.0.1:0", "127.0.0.1:0"
	if _, err := server.Start(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("plaintext bound on 0.0.0.0: %v", err)
	}
	r := start(t, func(c *server.Config) { c.TLS.InsecurePlaintext = true })
	if err := health(t, r.AuthzAddr(), insecure.NewCredentials()); err != nil {
		t.Fatalf("plaintext authz: %v", err)
	}
	if !strings.Contains(r.logs.String(), "TLS is off on every listener") {
		t.Fatalf("plaintext not logged as a warning:\n%s", r.logs)
	}
	if _, err := os.Stat(filepath.Join(r.cfg.Data, server.CAFile)); err == nil {
		t.Fatal("plaintext mode wrote a CA file")
	}
}

// TestOperatorCertificates: an operator's CA replaces the generated one; an
// operator's serving certificate must name nodeid.ServerURI.
func TestOperatorCertificates(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := testpki.NewRoot(t, "Operator CA", testpki.Options{})
	r := start(t, func(c *server.Config) {
		c.TLS.CACertFile, c.TLS.CAKeyFile = write("ca.pem", ca.PEM()), write("ca.key", ca.KeyPEM())
	})
	written, _ := os.ReadFile(filepath.Join(r.cfg.Data, server.CAFile))
	if !bytes.Equal(written, ca.PEM()) {
		t.Fatal("the data directory's ca.pem is not the operator's CA")
	}
	startErr := func(certPEM, keyPEM []byte) error {
		cfg := loopbackConfig(t)
		cfg.TLS.CertFile, cfg.TLS.KeyFile = write("srv.pem", certPEM), write("srv.key", keyPEM)
		_, err := server.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
		return err
	}
	public := testpki.NewRoot(t, "Operator serving CA", testpki.Options{})
	noURI := public.Leaf(t, "mtlsgate", testpki.Options{DNS: []string{"localhost"}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err := startErr(append(noURI.PEM(), public.PEM()...), noURI.KeyPEM()); err == nil || !strings.Contains(err.Error(), nodeid.ServerURI) {
		t.Fatalf("a serving certificate without the server URI: %v", err)
	}
	named := public.Leaf(t, "mtlsgate", testpki.Options{DNS: []string{"localhost"}, IPs: []string{"127.0.0.1"},
		URIs: []string{nodeid.ServerURI}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err := startErr(named.PEM(), named.KeyPEM()); err == nil || !strings.Contains(err.Error(), "issuing CA") {
		t.Fatalf("a serving certificate whose CA is not in the file: %v", err)
	}
	// With its CA after the leaf, the CA is published beside the internal
	// CA, and nodes written from the API's answer verify the server.
	withCA := start(t, func(c *server.Config) {
		c.TLS.CertFile, c.TLS.KeyFile = write("named.pem", append(named.PEM(), public.PEM()...)), write("named.key", named.KeyPEM())
	})
	published, _ := os.ReadFile(filepath.Join(withCA.cfg.Data, server.CAFile))
	if !bytes.Contains(published, public.PEM()) || bytes.Count(published, []byte("BEGIN CERTIFICATE")) != 2 {
		t.Fatalf("ca.pem does not hold the internal CA and the serving CA:\n%s", published)
	}
	node := withCA.issueNode(t, nodeid.Identity{Fleet: "default", Node: "n"})
	creds := credentials.NewTLS(&tls.Config{RootCAs: withCA.pool, ServerName: "localhost", Certificates: []tls.Certificate{node}})
	if err := health(t, withCA.XDSAddr(), creds); err != nil {
		t.Fatalf("a node verifying by the published bundle: %v", err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml, msg string
	}{
		{"tls:\n  cert_file: a.pem\n", "set both or neither"},
		{"tls:\n  ca_key_file: a.key\n", "set both or neither"},
		{"tls:\n  node_cert_lifetime: 1m\n", "tls.node_cert_lifetime"},
		{"tls:\n  insecure_plaintxt: true\n", "insecure_plaintxt"},
	} {
		p := filepath.Join(t.TempDir(), "c.yaml")
		_ = os.WriteFile(p, []byte(tc.yaml), 0o600)
		_, err := server.LoadConfig([]string{"--config", p}, envOf(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.msg)
		}
	}
	cfg, err := server.LoadConfig(nil, envOf(map[string]string{"MTLSGATE_INSECURE_PLAINTEXT": "true"}), io.Discard)
	if err != nil || !cfg.TLS.InsecurePlaintext {
		t.Fatalf("env opt-out: %v %v", cfg.TLS.InsecurePlaintext, err)
	}
	cfg, err = server.LoadConfig([]string{"--insecure-plaintext=false"}, envOf(map[string]string{"MTLSGATE_INSECURE_PLAINTEXT": "true"}), io.Discard)
	if err != nil || cfg.TLS.InsecurePlaintext {
		t.Fatalf("flag over env: %v %v", cfg.TLS.InsecurePlaintext, err)
	}
}

// TestInternalCAKeySealed: the internal CA's key is in the store only
// sealed; the State holds it in the clear for signing.
func TestInternalCAKeySealed(t *testing.T) {
	r := start(t, nil)
	key := r.Store().Current().InternalCA().GetPrivateKeyPem()
	block, _ := pem.Decode([]byte(key))
	if block == nil {
		t.Fatalf("the State's CA key is not PEM: %q", key)
	}
	r.stop()
	db, err := os.ReadFile(filepath.Join(r.cfg.Data, server.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, block.Bytes) || bytes.Contains(db, []byte(key[40:100])) {
		t.Fatal("the internal CA's private key is in the store file in the clear")
	}
}

// syncBuffer is a bytes.Buffer the server's logger may write while a test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestReviewFinding6_MetricsNeedAReaderToken: /metrics names every site
// and fleet, so it needs a token that may read every site; /healthz needs
// none.
func TestReviewFinding6_MetricsNeedAReaderToken(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	tok, _ := os.ReadFile(filepath.Join(r.cfg.Data, server.AdminTokenFile))
	admin := strings.TrimSpace(string(tok))
	st := r.Store()
	if _, err := st.CreateSite(ctx, store.Actor{TokenID: "t"}, &pb.Site{Hostname: "a.example.com", OriginUrl: "http://127.0.0.1:1",
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{CertificateChainPath: "/c", PrivateKeyPath: "/k"}}}}); err != nil {
		t.Fatal(err)
	}
	_, viewer, err := st.CreateToken(ctx, store.Actor{TokenID: "t"}, "v", pb.Role_ROLE_VIEWER, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, scoped, err := st.CreateToken(ctx, store.Actor{TokenID: "t"}, "s", pb.Role_ROLE_SITE_MANAGER, []string{"a.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.pool}}}
	defer c.CloseIdleConnections()
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", "https://"+r.AdminAddr()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		who, token string
		want       int
	}{{"no token", "", 401}, {"bad token", "mtg.x.y", 401}, {"site-manager", scoped, 403}, {"viewer", viewer, 200}, {"admin", admin, 200}} {
		if got := get("/metrics", tc.token); got != tc.want {
			t.Errorf("/metrics as %s: %d, want %d", tc.who, got, tc.want)
		}
	}
	if got := get("/healthz", ""); got != 200 {
		t.Errorf("/healthz without a token: %d", got)
	}
}
