package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// caPool is the CA the server wrote into its data directory.
func (in *instance) caPool(t *testing.T) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(in.data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("ca.pem holds no certificate")
	}
	return pool
}

// adminCreds verifies the admin listener by the data directory's CA.
func (in *instance) adminCreds(t *testing.T) credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{RootCAs: in.caPool(t)})
}

// httpClient is an HTTPS client of the admin listener.
func (in *instance) httpClient(t *testing.T) *http.Client {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: in.caPool(t)}}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// issued is a node certificate with its key, as a node holds it.
type issued struct {
	cert   tls.Certificate
	serial string
}

// issueNode gets a node certificate from the API the way `mtlsgate envoy
// bootstrap` does: the key is made here and only a CSR is sent.
func (in *instance) issueNode(t *testing.T, id nodeid.Identity) issued {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := in.api(t).IssueNodeCertificate(in.authCtx(t), &pb.IssueNodeCertificateRequest{
		NodeId: id.Node, Fleet: id.Fleet, CsrPem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
	})
	if err != nil {
		t.Fatalf("IssueNodeCertificate: %v", err)
	}
	block, _ := pem.Decode([]byte(resp.GetCertificatePem()))
	n := issued{cert: tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}, serial: resp.GetCertificate().GetSerial()}
	in.waitServed(t, n, id)
	return n
}

// waitServed waits until ext_authz and xDS, which follow the store a
// moment behind the API, serve the node just issued.
func (in *instance) waitServed(t *testing.T, n issued, id nodeid.Identity) {
	t.Helper()
	creds := in.nodeCreds(t, n)
	conn := in.dialNode(t, in.authz, creds)
	eventually(t, 10*time.Second, "the new node served by ext_authz", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Host: "probe.invalid", Path: "/"}},
		}})
		return err == nil
	})
	eventually(t, 10*time.Second, "the new node served by xDS", func() bool {
		_, err := adsFirstResponse(t, in, creds, id.Node, id.Fleet)
		return err == nil
	})
}

// nodeCreds are the transport credentials of a node: its certificate, and
// mtlsgate verified by the data directory's CA and the server URI.
func (in *instance) nodeCreds(t *testing.T, n issued) credentials.TransportCredentials {
	t.Helper()
	return credentials.NewTLS(&tls.Config{RootCAs: in.caPool(t), ServerName: "localhost", Certificates: []tls.Certificate{n.cert}})
}

// dialNode connects to addr as node n.
func (in *instance) dialNode(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestUnauthenticatedPeersGetNothing: ext_authz answers no Check and xDS
// no resource to a plaintext client, a client with another CA's
// certificate, or a node whose certificate was revoked (through the CLI);
// a node of the internal CA is answered.
func TestUnauthenticatedPeersGetNothing(t *testing.T) {
	dir := t.TempDir()
	in := serve(t, filepath.Join(dir, "data"))
	node := in.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"})
	other := testpki.NewRoot(t, "Other CA", testpki.Options{})
	impostor := other.Leaf(t, "edge-1", testpki.Options{URIs: []string{nodeid.Identity{Fleet: "default", Node: "edge-1"}.URI()}})
	pool := in.caPool(t)

	check := func(creds credentials.TransportCredentials) error {
		conn := in.dialNode(t, in.authz, creds)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			ContextExtensions: map[string]string{"site": "app.example.com"},
			Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Host: "app.example.com", Path: "/"}},
		}})
		return err
	}
	if err := check(in.nodeCreds(t, node)); err != nil {
		t.Fatalf("a node of the internal CA got no answer: %v", err)
	}
	for what, creds := range map[string]credentials.TransportCredentials{
		"plaintext":      insecure.NewCredentials(),
		"no certificate": credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"}),
		"another CA": credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost",
			Certificates: []tls.Certificate{{Certificate: [][]byte{impostor.Cert.Raw}, PrivateKey: impostor.Key}}}),
	} {
		if err := check(creds); err == nil {
			t.Errorf("ext_authz answered %s", what)
		}
		if _, err := adsFirstResponse(t, in, creds, "edge-1", "default"); err == nil {
			t.Errorf("xDS answered %s", what)
		}
	}

	// A node of another fleet: xDS refuses it when it claims a fleet its
	// certificate does not name, and serves it none of this fleet's sites.
	eu := in.issueNode(t, nodeid.Identity{Fleet: "eu", Node: "edge-9"})
	if _, err := adsFirstResponse(t, in, in.nodeCreds(t, eu), "edge-9", "default"); err == nil {
		t.Error("xDS answered a node of fleet eu claiming fleet default")
	}
	if _, err := adsFirstResponse(t, in, in.nodeCreds(t, eu), "edge-1", "eu"); err == nil {
		t.Error("xDS answered a node claiming another node id")
	}
	dir2 := t.TempDir()
	srv := testpki.NewRoot(t, "Site CA", testpki.Options{}).Server(t, "us.example.com")
	in.cli(t, "site", "put", "us.example.com", "--cert", writeFile(t, dir2, "s.pem", srv.PEM()), "--key", writeFile(t, dir2, "s.key", srv.KeyPEM()),
		"--origin", "http://127.0.0.1:8080", "--fleet", "us")
	resp, err := adsFirstResponse(t, in, in.nodeCreds(t, eu), "edge-9", "eu")
	if err != nil {
		t.Fatalf("xDS refused a node of fleet eu: %v", err)
	}
	for _, r := range resp.GetResources() {
		if strings.Contains(string(r.GetValue()), "us.example.com") {
			t.Fatal("a node of fleet eu received fleet us's site")
		}
	}
	conn := in.dialNode(t, in.authz, in.nodeCreds(t, eu))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	denied, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: map[string]string{"site": "us.example.com"},
		TlsSession:        &authv3.AttributeContext_TLSSession{Sni: "us.example.com"},
		Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Host: "us.example.com", Path: "/"}},
	}})
	if err == nil && denied.GetOkResponse() != nil {
		t.Fatal("ext_authz allowed a node of fleet eu a request of fleet us's site")
	}

	out := in.cli(t, "node", "list")
	if !strings.Contains(out, node.serial) || !strings.Contains(out, "active") {
		t.Fatalf("node list:\n%s", out)
	}
	in.cli(t, "node", "revoke", node.serial)
	if out := in.cli(t, "node", "list", "--fleet", "default"); !strings.Contains(out, "revoked") {
		t.Fatalf("node list after revoke:\n%s", out)
	}
	eventually(t, 5*time.Second, "revoked node refused by ext_authz", func() bool { return check(in.nodeCreds(t, node)) != nil })
	eventually(t, 5*time.Second, "revoked node refused by xDS", func() bool {
		_, err := adsFirstResponse(t, in, in.nodeCreds(t, node), "edge-1", "default")
		return err != nil
	})
}

// adsFirstResponse opens an ADS stream to in as node id of fleet, asks for
// listeners and returns the first response, or the error that ended the
// stream (a stream that answers nothing within 3 s is an error too).
func adsFirstResponse(t *testing.T, in *instance, creds credentials.TransportCredentials, id, fleet string) (*discovery.DiscoveryResponse, error) {
	t.Helper()
	conn := in.dialNode(t, in.xds, creds)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: id, Cluster: fleet}, TypeUrl: resourcev3.ListenerType}); err != nil {
		return nil, err
	}
	return stream.Recv()
}

// adminToken is the first admin token the server wrote.
func (in *instance) adminToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(in.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
