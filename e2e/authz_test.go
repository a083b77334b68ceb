package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// cli runs the mtlsgate CLI against in with the admin token.
func (in *instance) cli(t *testing.T, args ...string) string {
	t.Helper()
	full := append([]string{"--server", in.admin, "--token-file", filepath.Join(in.data, "admin.token")}, args...)
	out, err := exec.Command(binary, full...).CombinedOutput()
	if err != nil {
		t.Fatalf("mtlsgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckFollowsTheCLI configures the real binary through its CLI and
// asks its ext_authz port, as Envoy would.
func TestCheckFollowsTheCLI(t *testing.T) {
	dir := t.TempDir()
	in := serve(t, filepath.Join(dir, "data"))
	root := testpki.NewRoot(t, "E2E Client CA", testpki.Options{})
	alice := root.Leaf(t, "alice", testpki.Options{})
	srv := root.Server(t, "app.example.com")

	caID := in.cli(t, "ca", "add", "--name", "e2e", writeFile(t, dir, "ca.pem", root.PEM()), "-o", "id")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	in.cli(t, "site", "assign", "app.example.com", caID)

	conn := in.dialNode(t, in.authz, in.nodeCreds(t, in.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"})))
	client := authv3.NewAuthorizationClient(conn)
	check := func(cert *testpki.Cert) *authv3.CheckResponse {
		r := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source:            &authv3.AttributeContext_Peer{},
			TlsSession:        &authv3.AttributeContext_TLSSession{Sni: "app.example.com"},
			ContextExtensions: map[string]string{"site": "app.example.com"},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Host: "app.example.com", Path: "/", Method: "GET"}},
		}}
		if cert != nil {
			r.Attributes.Source.Certificate = extract.EncodeNew(cert.PEM())
		}
		resp, err := client.Check(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// The assignment reaches Check within a second.
	eventually(t, time.Second, "alice allowed", func() bool { return check(alice).GetOkResponse() != nil })
	if check(nil).GetDeniedResponse().GetStatus().GetCode() != 403 {
		t.Fatal("enforce without a certificate was not denied 403")
	}
	in.cli(t, "site", "set", "app.example.com", "mode=permissive")
	eventually(t, time.Second, "permissive allows no certificate", func() bool { return check(nil).GetOkResponse() != nil })

	req, _ := http.NewRequest("GET", "https://"+in.admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+in.adminToken(t))
	resp, err := in.httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{
		`mtlsgate_authz_decisions_total{reason="ok",result="allow",site="app.example.com"}`,
		`mtlsgate_authz_decisions_total{reason="no_certificate",result="deny",site="app.example.com"}`,
		`mtlsgate_client_ca_expiry_seconds{ca_id="` + caID + `"`,
		"mtlsgate_authz_check_duration_seconds_bucket",
		"mtlsgate_authz_policy_generation",
	} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// api returns a Certificate Manager client of in.
func (in *instance) api(t *testing.T) pb.CertificateManagerServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(in.admin, grpc.WithTransportCredentials(in.adminCreds(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewCertificateManagerServiceClient(conn)
}

// authCtx carries the admin token.
func (in *instance) authCtx(t *testing.T) context.Context {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(in.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.TrimSpace(string(tok)))
}

// eventually polls cond until it holds or within has passed.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
