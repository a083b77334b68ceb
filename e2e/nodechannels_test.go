package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/grpc/credentials"

	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/nodeid"
)

// bootstrapCreds has in issue credentials for a node with the real CLI
// (envoy bootstrap --out) and returns their directory.
func bootstrapCreds(t *testing.T, in *instance, dir, node, fleet string) string {
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

// TestNodeNamesMustMatch: the credentials mtlsgate envoy bootstrap --out
// writes get their node configuration over xDS (verifying mtlsgate as
// Envoy does), and the same certificate claiming another fleet or node id
// gets nothing.
func TestNodeNamesMustMatch(t *testing.T) {
	dir := t.TempDir()
	in := serve(t, filepath.Join(dir, "data"))
	creds := credentials.NewTLS(nodeTLS(t, bootstrapCreds(t, in, dir, "edge-1", "eu")))
	if _, err := adsFirstResponse(t, in, creds, "edge-1", "eu"); err != nil {
		t.Fatalf("the node's own names: %v", err)
	}
	for _, n := range []struct{ id, fleet string }{{"edge-1", "us"}, {"edge-9", "eu"}} {
		if _, err := adsFirstResponse(t, in, creds, n.id, n.fleet); err == nil {
			t.Errorf("xDS answered node %s of fleet %s with edge-1/eu's certificate", n.id, n.fleet)
		}
	}
}
