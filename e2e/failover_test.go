package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/e2e/internal/standin"
	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// replicaAt starts a replica on c with the listener ports of p and the
// Envoy listener addresses of listeners (every replica must tell Envoy the
// same).
func replicaAt(t *testing.T, c *etcdtest.Cluster, dir string, p, listeners ports, extra ...string) *instance {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "mtlsgate.yaml", fmt.Appendf(nil,
		"store: etcd\netcd:\n  endpoints: [%s]\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n  prefix: /failover/\n"+
			"authz:\n  decision_log: all\nxds:\n  https_addr: %s\n  http_addr: %s\n  https_port: %d\n",
		strings.Join(c.Endpoints(), ", "), c.CAFile, c.ClientCertFile, c.ClientKeyFile,
		addr(listeners.https), addr(listeners.http), listeners.https))
	args := append([]string{"--config", cfg, "--admin-addr", addr(p.admin), "--authz-addr", addr(p.authz), "--xds-addr", addr(p.xds)}, extra...)
	return serveArgs(t, filepath.Join(dir, "data"), args...)
}

// TestEnvoyFailsOverBetweenReplicas: an Envoy bootstrapped with two
// replicas' addresses (`envoy bootstrap --xds A,B --authz A,B`) keeps
// serving when the replica answering its Checks is killed -9: requests
// pass again within the health checks' window, and a change made through
// the surviving replica reaches it (over a new ADS stream when the killed
// replica held the first).
func TestEnvoyFailsOverBetweenReplicas(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Members: 3, TLS: true})
	dir := t.TempDir()
	pa, pb := freePorts(t), freePorts(t)
	a := replicaAt(t, c, filepath.Join(dir, "a"), pa, pa)
	b := replicaAt(t, c, filepath.Join(dir, "b"), pb, pa, "--seal-key-file", filepath.Join(dir, "a", "data", "seal.key"))
	writeFile(t, b.data, "admin.token", []byte(a.adminToken(t)+"\n"))

	origin := startOrigin(t)
	edge, clients := testpki.NewRoot(t, "Failover Edge CA", testpki.Options{}), testpki.NewRoot(t, "Failover Clients", testpki.Options{})
	alice, srv := clients.Leaf(t, "alice", testpki.Options{}), edge.Server(t, "app.example.com")
	caID := a.cli(t, "ca", "add", "--name", "clients", writeFile(t, dir, "clients.pem", clients.PEM()), "-o", "id")
	a.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", origin.URL, "--mode", "enforce")
	a.cli(t, "site", "assign", "app.example.com", caID)

	out := filepath.Join(dir, "envoy")
	a.cli(t, "envoy", "bootstrap", "--node-id", "edge-1", "--cluster", "e2e", "--out", out, "--admin", addr(pa.envoyAdmin),
		"--xds", addr(pa.xds)+","+addr(pb.xds), "--authz", addr(pa.authz)+","+addr(pb.authz))
	if os.Getenv("ENVOY_BIN") != "" {
		t.Skip("failover is measured with the stand-in; with real Envoy, run the bootstrap by hand")
	}
	ctx, cancel := context.WithCancel(context.Background())
	sp, err := standin.Start(ctx, standin.Options{Bootstrap: filepath.Join(out, envoy.BootstrapFile),
		ListenerAddrs: map[string]string{"https": addr(pa.https), "http": addr(pa.http)}, Logf: t.Logf})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	defer func() { cancel(); _ = sp.Close() }()
	roots := x509.NewCertPool()
	roots.AddCert(edge.Cert)
	cl := &client{t: t, https: addr(pa.https), http: addr(pa.http), roots: roots}
	ok := func(cert *testpki.Cert) bool {
		resp, _, err := cl.get("app.example.com", "app.example.com", "/", cert, nil)
		return err == nil && resp.StatusCode == 200
	}
	eventually(t, 30*time.Second, "the data plane serves app.example.com", func() bool { return ok(alice) })

	// The replica that answered the Checks (decision_log: all) dies.
	target, other := a, b
	if !strings.Contains(a.logs.String(), `"msg":"decision"`) {
		target, other = b, a
	}
	heldADS := strings.Contains(target.logs.String(), "Envoy connected")
	_ = target.cmd.Process.Kill()
	killed := time.Now()
	failed := 0
	eventually(t, 4*envoy.HealthCheckInterval+5*time.Second, "requests pass after the replica died", func() bool {
		if ok(alice) {
			return true
		}
		failed++
		return false
	})
	t.Logf("requests pass again %v after the replica answering Checks was killed (%d refused meanwhile; it held ADS too: %v)",
		time.Since(killed).Round(time.Millisecond), failed, heldADS)
	other.cli(t, "site", "set", "app.example.com", "mode=permissive")
	eventually(t, 15*time.Second, "a change through the surviving replica reaches the data plane", func() bool { return ok(nil) })
	for _, err := range sp.Errors() {
		t.Errorf("data plane: %v", err)
	}
}
