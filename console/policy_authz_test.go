package console_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// authzConn is a gRPC connection to r's ext_authz port as an Envoy of
// fleet eu, with a node certificate issued through the API (as nodeConn,
// for the xDS port).
func authzConn(t *testing.T, r *running) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(r.srv.AuthzAddr(), grpc.WithTransportCredentials(nodeCreds(t, r, "edge-authz")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestPolicyPinEnforced: a pin added through the console is enforced by
// ext_authz: another certificate of the same CA is denied not_pinned, the
// pinned one is let through.
func TestPolicyPinEnforced(t *testing.T) {
	r := startServer(t)
	root := testpki.NewRoot(t, "Pinning CA", testpki.Options{})
	alice, bob := root.Leaf(t, "alice", testpki.Options{}), root.Leaf(t, "bob", testpki.Options{})
	rootPath := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(rootPath, root.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	id := uploadCA(t, r, "pinning", rootPath)
	createSite(t, r, "app.example.com", 90*24*time.Hour)
	apiCall(t, r, r.admin, "POST", "/v1/sites/app.example.com/assign", "application/json", []byte(`{"ca_ids":["`+id+`"]}`), nil)
	if _, err := r.srv.Store().UpdateSettings(context.Background(), store.Actor{Action: "test"}, "app.example.com",
		&pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}, []string{"mode"}); err != nil {
		t.Fatal(err)
	}
	u := newUIClient(t, r, r.admin)
	form := url.Values{"list_base": {baseOf(t, u.page(), "pins/add")}, "identity": {"alice"}}
	if code, loc := u.post("pins/add", form, "alice.pem", alice.PEM()); code != 303 {
		t.Fatalf("add pin: %d %s", code, loc)
	}
	client := authv3.NewAuthorizationClient(authzConn(t, r))
	check := func(c *testpki.Cert) (*authv3.CheckResponse, error) {
		return client.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source:            &authv3.AttributeContext_Peer{Certificate: extract.EncodeNew(c.PEM())},
			TlsSession:        &authv3.AttributeContext_TLSSession{Sni: "app.example.com"},
			ContextExtensions: map[string]string{"site": "app.example.com"},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Host: "app.example.com", Path: "/", Method: "GET"}},
		}})
	}
	// ext_authz follows the store a moment behind the API.
	var last string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		denied, err1 := check(bob)
		allowed, err2 := check(alice)
		if err1 == nil && err2 == nil && strings.Contains(denied.GetDeniedResponse().GetBody(), "(not_pinned)") && allowed.GetOkResponse() != nil {
			return
		}
		last = denied.GetDeniedResponse().GetBody() + " / " + allowed.GetDeniedResponse().GetBody()
		if time.Now().After(deadline) {
			t.Fatalf("bob not denied not_pinned, or alice not allowed: %s (%v, %v)", last, err1, err2)
		}
	}
}
