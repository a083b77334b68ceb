package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// nodeCreds has in issue credentials for a node with the real CLI
// (envoy bootstrap --out) and returns their directory.
func nodeCreds(t *testing.T, in *instance, dir, node, fleet string) string {
	t.Helper()
	out := filepath.Join(dir, fleet+"-"+node)
	in.cli(t, "envoy", "bootstrap", "--node-id", node, "--cluster", fleet, "--xds", in.xds, "--authz", in.authz, "--out", out)
	return out
}

// nodeTLS is the client TLS of the node whose credentials are in dir,
// verifying the server as Envoy does: against ca.pem, requiring the
// server URI and ALPN h2.
func nodeTLS(t *testing.T, dir string) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, envoy.CertFile), filepath.Join(dir, envoy.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, envoy.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	return serverCheckingTLS(t, caPEM, &pair)
}

// serverCheckingTLS presents cert (nil: none) and accepts only a server
// certificate of the CA in caPEM naming nodeid.ServerURI.
func serverCheckingTLS(t *testing.T, caPEM []byte, cert *tls.Certificate) *tls.Config {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	cfg := &tls.Config{
		NextProtos:         []string{"h2"},
		InsecureSkipVerify: true, // verified below: the CA and the server URI, not a host name
		VerifyConnection: func(cs tls.ConnectionState) error {
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			leaf := cs.PeerCertificates[0]
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
				return err
			}
			if !slices.ContainsFunc(leaf.URIs, func(u *url.URL) bool { return u.String() == nodeid.ServerURI }) {
				return errors.New("the server certificate does not name " + nodeid.ServerURI)
			}
			return nil
		},
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

// channelResult is what a client got from xDS and from ext_authz.
type channelResult struct {
	xds, check error // nil: something was received
}

// tryChannels asks xDS (as node) and ext_authz (one Check) over creds.
func tryChannels(t *testing.T, in *instance, creds credentials.TransportCredentials, node *core.Node) channelResult {
	t.Helper()
	var r channelResult
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	xc, err := grpc.NewClient(in.xds, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer xc.Close()
	r.xds = func() error {
		stream, err := discovery.NewAggregatedDiscoveryServiceClient(xc).StreamAggregatedResources(ctx)
		if err != nil {
			return err
		}
		if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType}); err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	}()
	ac, err := grpc.NewClient(in.authz, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	_, r.check = authv3.NewAuthorizationClient(ac).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: map[string]string{"site": "app.example.com"},
		Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Host: "app.example.com", Path: "/", Method: "GET"}},
	}})
	return r
}

// TestNodeChannels: a node with its own certificate gets configuration
// and decisions; a plaintext client, a client with a certificate of
// another CA, a node claiming another fleet and a revoked node get
// nothing from xDS or ext_authz. (Skipped against a plaintext server.)
func TestNodeChannels(t *testing.T) {
	dir := t.TempDir()
	in := serve(t, filepath.Join(dir, "data"))
	caPEM, err := os.ReadFile(filepath.Join(in.data, "ca.pem"))
	if err != nil {
		t.Skip("the server runs without TLS: nodes have no identity")
	}
	srv := testpki.NewRoot(t, "Edge CA", testpki.Options{}).Server(t, "app.example.com")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080")
	edge := nodeCreds(t, in, dir, "edge-1", "eu")
	revoked := nodeCreds(t, in, dir, "edge-2", "eu")
	if _, err := in.api(t).RevokeNodeCertificate(in.authCtx(t), &pb.RevokeNodeCertificateRequest{
		Serial: pki.SerialHex(readNodeCert(t, revoked).SerialNumber)}); err != nil {
		t.Fatal(err)
	}
	other := testpki.NewRoot(t, "Other CA", testpki.Options{}).Leaf(t, "edge-1",
		testpki.Options{URIs: []string{nodeid.Identity{Fleet: "eu", Node: "edge-1"}.URI()}})
	otherPair := &tls.Certificate{Certificate: [][]byte{other.Cert.Raw}, PrivateKey: other.Key}

	eu1 := &core.Node{Id: "edge-1", Cluster: "eu"}
	// xds and check say whether each answers. A Check carries no node
	// name: a node with a valid certificate is answered whatever node it
	// claims on xDS.
	tests := []struct {
		name       string
		creds      credentials.TransportCredentials
		node       *core.Node
		xds, check bool
	}{
		{"the node itself", credentials.NewTLS(nodeTLS(t, edge)), eu1, true, true},
		{"plaintext", insecure.NewCredentials(), eu1, false, false},
		{"no client certificate", credentials.NewTLS(serverCheckingTLS(t, caPEM, nil)), eu1, false, false},
		{"a certificate of another CA", credentials.NewTLS(serverCheckingTLS(t, caPEM, otherPair)), eu1, false, false},
		{"another fleet", credentials.NewTLS(nodeTLS(t, edge)), &core.Node{Id: "edge-1", Cluster: "us"}, false, true},
		{"another node id", credentials.NewTLS(nodeTLS(t, edge)), &core.Node{Id: "edge-9", Cluster: "eu"}, false, true},
		{"revoked", credentials.NewTLS(nodeTLS(t, revoked)), &core.Node{Id: "edge-2", Cluster: "eu"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tryChannels(t, in, tt.creds, tt.node)
			if got := r.xds == nil; got != tt.xds {
				t.Errorf("xDS answered: %v (%v), want %v", got, r.xds, tt.xds)
			}
			if got := r.check == nil; got != tt.check {
				t.Errorf("ext_authz answered: %v (%v), want %v", got, r.check, tt.check)
			}
		})
	}
}
