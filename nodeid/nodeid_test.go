package nodeid_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"edge-1", true},
		{"eu-west_1.prod~a", true},
		{strings.Repeat("a", nodeid.MaxNameLen), true},
		{"", false},
		{".", false},
		{"..", false},
		{strings.Repeat("a", nodeid.MaxNameLen+1), false},
		{"a/b", false},
		{"a b", false},
		{"a%2Fb", false},
		{"é", false},
		{"a\x00", false},
		{"a:b", false},
	} {
		err := nodeid.CheckName("node id", tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "node id: ") {
			t.Errorf("CheckName(%q) error %q does not name the field", tc.name, err)
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	id := nodeid.Identity{Fleet: "eu-west", Node: "edge-1"}
	if got := id.URI(); got != "spiffe://mtlsgate/fleet/eu-west/node/edge-1" {
		t.Fatalf("URI = %q", got)
	}
	back, err := nodeid.Parse(id.URI())
	if err != nil || back != id {
		t.Fatalf("Parse(URI) = %v, %v; want %v", back, err, id)
	}
	for _, bad := range []string{
		"",
		nodeid.ServerURI,
		"spiffe://mtlsgate/fleet/eu-west",
		"spiffe://mtlsgate/fleet//node/edge-1",
		"spiffe://mtlsgate/fleet/eu-west/node/",
		"spiffe://mtlsgate/fleet/eu-west/node/edge-1/extra",
		"spiffe://mtlsgate/fleet/a/node/b/node/c",
		"spiffe://other/fleet/eu-west/node/edge-1",
		"SPIFFE://mtlsgate/fleet/eu-west/node/edge-1",
		"spiffe://mtlsgate/fleet/eu%2Fwest/node/edge-1",
	} {
		if got, err := nodeid.Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, got)
		}
	}
}

func TestFromCertificate(t *testing.T) {
	ca := testpki.NewRoot(t, "node CA", testpki.Options{})
	id := nodeid.Identity{Fleet: "f", Node: "n"}
	for _, tc := range []struct {
		name string
		uris []string
		ok   bool
	}{
		{"one node URI", []string{id.URI()}, true},
		{"no URI", nil, false},
		{"two URIs", []string{id.URI(), "spiffe://mtlsgate/fleet/g/node/n"}, false},
		{"server URI", []string{nodeid.ServerURI}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ca.Leaf(t, "n", testpki.Options{URIs: tc.uris})
			got, err := nodeid.FromCertificate(c.Cert)
			if tc.ok && (err != nil || got != id) {
				t.Fatalf("FromCertificate = %v, %v; want %v", got, err, id)
			}
			if !tc.ok && !errors.Is(err, nodeid.ErrNoIdentity) {
				t.Fatalf("FromCertificate = %v, %v; want ErrNoIdentity", got, err)
			}
		})
	}
}

// TestFromPeer reads identities over real gRPC: a TLS client with a node
// certificate is named, a plaintext one and a TLS one without a client
// certificate are not.
func TestFromPeer(t *testing.T) {
	ca := testpki.NewRoot(t, "node CA", testpki.Options{})
	srvCert := ca.Leaf(t, "server", testpki.Options{DNS: []string{"localhost"}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	node := ca.Leaf(t, "edge-1", testpki.Options{URIs: []string{nodeid.Identity{Fleet: "eu", Node: "edge-1"}.URI()}})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)

	type seen struct {
		id  nodeid.Identity
		err error
	}
	got := make(chan seen, 1)
	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		id, _, err := nodeid.FromPeer(ctx)
		got <- seen{id, err}
		return h(ctx, req)
	}
	serve := func(creds credentials.TransportCredentials) string {
		g := grpc.NewServer(grpc.Creds(creds), grpc.UnaryInterceptor(record))
		healthpb.RegisterHealthServer(g, health.NewServer())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = g.Serve(ln) }()
		t.Cleanup(g.Stop)
		return ln.Addr().String()
	}
	tlsCert := tls.Certificate{Certificate: [][]byte{srvCert.Cert.Raw}, PrivateKey: srvCert.Key}
	mtlsAddr := serve(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{tlsCert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}))
	plainAddr := serve(insecure.NewCredentials())

	call := func(addr string, creds credentials.TransportCredentials) seen {
		t.Helper()
		conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("health check: %v", err)
		}
		return <-got
	}
	withCert := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost",
		Certificates: []tls.Certificate{{Certificate: [][]byte{node.Cert.Raw}, PrivateKey: node.Key}}})
	if s := call(mtlsAddr, withCert); s.err != nil || s.id != (nodeid.Identity{Fleet: "eu", Node: "edge-1"}) {
		t.Errorf("node over mTLS: %v, %v", s.id, s.err)
	}
	noCert := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})
	if s := call(mtlsAddr, noCert); !errors.Is(s.err, nodeid.ErrNoIdentity) {
		t.Errorf("TLS without a client certificate: %v, %v; want ErrNoIdentity", s.id, s.err)
	}
	if s := call(plainAddr, insecure.NewCredentials()); !errors.Is(s.err, nodeid.ErrNoIdentity) {
		t.Errorf("plaintext: %v, %v; want ErrNoIdentity", s.id, s.err)
	}
}
