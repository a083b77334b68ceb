// Package nodetest gives tests of the node-facing servers (xDS,
// ext_authz) what a deployment has: an internal CA that issues a serving
// certificate and node certificates naming a fleet and node, another CA
// whose certificates must be refused, TLS credentials for both ends, and a
// real store that records and revokes node certificates.
package nodetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"google.golang.org/protobuf/types/known/timestamppb"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/credentials"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/bolt"
)

// ServerName is the name the serving certificate is for.
const ServerName = "localhost"

// PKI is an internal CA, its serving certificate, and another CA.
type PKI struct {
	CA, Server, Other *testpki.Cert
}

// NewPKI makes the CAs and the serving certificate.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	ca := testpki.NewRoot(t, "mtlsgate internal CA (test)", testpki.Options{})
	return &PKI{CA: ca, Server: ca.Server(t, ServerName),
		Other: testpki.NewRoot(t, "Another CA", testpki.Options{})}
}

// Node issues a node certificate for fleet and node from the internal CA.
func (p *PKI) Node(t testing.TB, fleet, node string) *testpki.Cert {
	t.Helper()
	return NodeFrom(t, p.CA, fleet, node)
}

// NodeFrom issues a node certificate for fleet and node from ca.
func NodeFrom(t testing.TB, ca *testpki.Cert, fleet, node string) *testpki.Cert {
	t.Helper()
	return ca.Leaf(t, node, testpki.Options{URIs: []string{nodeid.Identity{Fleet: fleet, Node: node}.URI()}})
}

// Serial is a certificate's serial as the store keys it.
func Serial(c *testpki.Cert) string { return pki.SerialHex(c.Cert.SerialNumber) }

// ServerCreds are the server's TLS credentials, asking for a client
// certificate as auth says (tls.RequireAndVerifyClientCert in production;
// tls.RequestClientCert lets unverified peers reach the handler).
func (p *PKI) ServerCreds(auth tls.ClientAuthType) credentials.TransportCredentials {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA.Cert)
	return credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{keyPair(p.Server)}, ClientCAs: pool, ClientAuth: auth,
		MinVersion: tls.VersionTLS12,
	})
}

// ClientCreds are a node's TLS credentials, presenting cert (none when
// nil) and trusting the internal CA.
func (p *PKI) ClientCreds(cert *testpki.Cert) credentials.TransportCredentials {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA.Cert)
	cfg := &tls.Config{RootCAs: pool, ServerName: ServerName, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{keyPair(cert)}
	}
	return credentials.NewTLS(cfg)
}

func keyPair(c *testpki.Cert) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// Admin is the actor of the tests' writes.
var Admin = store.Actor{TokenID: "test-admin", Action: "test"}

// Store opens a real store in a temporary directory, sealing keys with
// a fresh keyring.
func Store(t testing.TB) *store.Store {
	t.Helper()
	b, err := bolt.Open(filepath.Join(t.TempDir(), "store.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), b, store.Options{Keyring: seal.MustGenerate()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Record records a node certificate in s, as issuing it does.
func Record(t testing.TB, s *store.Store, c *testpki.Cert) {
	t.Helper()
	id, err := nodeid.FromCertificate(c.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordNodeCertificate(context.Background(), Admin, &pb.NodeCertificate{
		Serial: Serial(c), Fleet: id.Fleet, NodeId: id.Node, Sha256Fingerprint: pki.Fingerprint(c.Cert.Raw),
		NotBefore: timestamppb.New(c.Cert.NotBefore), NotAfter: timestamppb.New(c.Cert.NotAfter),
	}); err != nil {
		t.Fatal(err)
	}
}

// Revoke revokes a node certificate in s.
func Revoke(t testing.TB, s *store.Store, c *testpki.Cert) {
	t.Helper()
	if _, err := s.RevokeNodeCertificate(context.Background(), Admin, Serial(c)); err != nil {
		t.Fatal(err)
	}
}

// Site creates a site on fleets (every fleet when none), with a fresh
// inline server certificate, in mode.
func Site(t testing.TB, s *store.Store, host string, mode pb.Mode, fleets ...string) *pb.Site {
	t.Helper()
	srv := testpki.NewRoot(t, "Site CA "+host, testpki.Options{}).Server(t, host)
	site, err := s.CreateSite(context.Background(), Admin, &pb.Site{
		Hostname: host, OriginUrl: "http://127.0.0.1:8080", Fleets: fleets,
		Settings: &pb.ClientCertSettings{Mode: mode},
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM())}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return site
}
