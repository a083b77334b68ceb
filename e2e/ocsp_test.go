package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/ocsptest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
)

// TestOCSPCheckedByTheServer: a site set to check OCSP with the CLI asks
// the responder each client certificate names: good passes, revoked is
// denied, a certificate whose responder fails is denied until the
// operator sets a working responder on its CA; the server's metrics show
// the requests.
func TestOCSPCheckedByTheServer(t *testing.T) {
	dir := t.TempDir()
	in := serveArgs(t, filepath.Join(dir, "data"), "--config", writeFile(t, dir, "mtlsgate.yaml", []byte(`revocation:
  ocsp:
    retry_min: 100ms
    retry_max: 200ms
  outbound:
    allow_nets: [127.0.0.0/8]
`)), "--admin-addr", "127.0.0.1:0", "--authz-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0")
	root := testpki.NewRoot(t, "OCSP Server Root", testpki.Options{})
	responder, down := ocsptest.Start(t, root), ocsptest.Start(t, root)
	down.Lock()
	down.FailWith = 503
	down.Unlock()
	alice, bob := root.Leaf(t, "alice", testpki.Options{OCSP: []string{responder.URL}}), root.Leaf(t, "bob", testpki.Options{OCSP: []string{responder.URL}})
	carol := root.Leaf(t, "carol", testpki.Options{OCSP: []string{down.URL}})
	responder.Set(bob.Cert.SerialNumber, ocsp.Revoked)
	srv := root.Server(t, "app.example.com")
	caID := in.cli(t, "ca", "add", "--name", "ocsp", writeFile(t, dir, "ca.pem", root.PEM()), "-o", "id")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	in.cli(t, "site", "assign", "app.example.com", caID)
	if out := in.cli(t, "site", "set", "app.example.com", "revocation.ocsp=leaf"); !strings.Contains(out, "revocation.ocsp:") || !strings.Contains(out, "leaf") {
		t.Fatalf("site set: %s", out)
	}
	check := checkAs(t, in, in.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"}))
	eventually(t, 5*time.Second, "alice allowed", func() bool { return check(alice) })
	if check(bob) {
		t.Fatal("bob, revoked at the responder, allowed")
	}
	if check(carol) {
		t.Fatal("carol, whose responder fails, allowed")
	}
	if out := in.cli(t, "ca", "set", caID, "--ocsp-url", responder.URL, "--ocsp-nonce=true"); !strings.Contains(out, responder.URL) {
		t.Fatalf("ca set: %s", out)
	}
	eventually(t, 5*time.Second, "carol allowed once her CA names a working responder", func() bool { return check(carol) })
	m := in.metrics(t)
	for _, want := range []string{`mtlsgate_ocsp_requests_total{responder="` + strings.TrimSuffix(responder.URL, "/ocsp") + `",result="revoked"} 1`,
		`mtlsgate_authz_decisions_total{reason="revoked",result="deny",site="app.example.com"}`, "mtlsgate_ocsp_cache_entries 3"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "ocsp"))
		}
	}
}
