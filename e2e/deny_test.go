package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	"github.com/mtlsgate/mtlsgate/pki"
)

// TestDenyThroughTheCLI: a certificate added to the denylist with the CLI
// is refused by the real binary's ext_authz (reason denied) within a
// second, and let through again once the entry is removed; the audit log
// names its fingerprint.
func TestDenyThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	in := serve(t, filepath.Join(dir, "data"))
	root := testpki.NewRoot(t, "E2E Deny CA", testpki.Options{})
	alice := root.Leaf(t, "alice", testpki.Options{})
	srv := root.Server(t, "app.example.com")
	caID := in.cli(t, "ca", "add", "--name", "e2e", writeFile(t, dir, "ca.pem", root.PEM()), "-o", "id")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	in.cli(t, "site", "assign", "app.example.com", caID)

	client := authv3.NewAuthorizationClient(in.dialNode(t, in.authz, in.nodeCreds(t, in.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"}))))
	check := func() *authv3.CheckResponse {
		resp, err := client.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source:            &authv3.AttributeContext_Peer{Certificate: extract.EncodeNew(alice.PEM())},
			TlsSession:        &authv3.AttributeContext_TLSSession{Sni: "app.example.com"},
			ContextExtensions: map[string]string{"site": "app.example.com"},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Host: "app.example.com", Path: "/", Method: "GET"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	eventually(t, time.Second, "alice allowed", func() bool { return check().GetOkResponse() != nil })

	id := in.cli(t, "deny", "add", "--cert", writeFile(t, dir, "alice.pem", alice.PEM()), "--site", "app.example.com",
		"--expires", "24h", "--comment", "e2e", "-o", "id")
	eventually(t, time.Second, "alice denied", func() bool {
		d := check().GetDeniedResponse()
		return d != nil && strings.Contains(d.GetBody(), "(denied)")
	})
	if list := in.cli(t, "deny", "list", "--site", "app.example.com", "-o", "id"); list != id {
		t.Fatalf("deny list: %q, want %q", list, id)
	}
	if audit := in.cli(t, "audit", "--object", "deny/", "-o", "json"); !strings.Contains(audit, pki.Fingerprint(alice.Cert.Raw)) {
		t.Fatalf("the audit log does not name the fingerprint: %s", audit)
	}
	in.cli(t, "deny", "remove", id)
	eventually(t, time.Second, "alice allowed again", func() bool { return check().GetOkResponse() != nil })
}
