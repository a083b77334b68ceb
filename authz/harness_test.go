package authz_test

import (
	"context"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

var admin = store.Actor{TokenID: "test", Action: "Test"}

// pkiSet is every certificate the tests present.
type pkiSet struct {
	root, inter, rsaRoot, other, staleCA                                                      *testpki.Cert
	good, goodRSA, noEKU, serverOnly, expired, notYet, untrusted, revoked, staleLeaf, viaRoot *testpki.Cert
}

func newPKI(t *testing.T) *pkiSet {
	now := time.Now()
	p := &pkiSet{root: testpki.NewRoot(t, "Client Root", testpki.Options{})}
	p.inter = p.root.Intermediate(t, "Client Issuing", testpki.Options{})
	p.rsaRoot = testpki.NewRoot(t, "RSA Root", testpki.Options{Key: testpki.RSA})
	p.other = testpki.NewRoot(t, "Other Root", testpki.Options{})
	p.staleCA = testpki.NewRoot(t, "Stale Root", testpki.Options{})
	p.good = p.inter.Leaf(t, "alice", testpki.Options{DNS: []string{"alice.clients.example"}, URIs: []string{"spiffe://example/alice"}, Email: []string{"alice@example.com"}})
	p.goodRSA = p.rsaRoot.Leaf(t, "bob", testpki.Options{Key: testpki.RSA})
	p.noEKU = p.inter.Leaf(t, "no-eku", testpki.Options{NoEKU: true})
	p.serverOnly = p.inter.Leaf(t, "server-only", testpki.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	p.expired = p.inter.Leaf(t, "expired", testpki.Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	p.notYet = p.inter.Leaf(t, "not-yet", testpki.Options{NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	p.untrusted = p.other.Leaf(t, "mallory", testpki.Options{})
	p.revoked = p.inter.Leaf(t, "revoked", testpki.Options{})
	p.staleLeaf = p.staleCA.Leaf(t, "stale", testpki.Options{})
	p.viaRoot = p.root.Leaf(t, "direct", testpki.Options{})
	return p
}

// env is a store with sites, an authz Service following it, and a gRPC
// client talking to the service over loopback.
type env struct {
	t      *testing.T
	st     *store.Store
	svc    *authz.Service
	client authv3.AuthorizationClient
	pki    *pkiSet
	cas    map[string]string // name → CA id
}

func newEnv(t *testing.T, opts authz.Options) *env {
	t.Helper()
	return newEnvPKI(t, opts, newPKI(t))
}

// newEnvPKI is newEnv with certificates made earlier, for tests that make
// many environments (newPKI makes an RSA key).
func newEnvPKI(t *testing.T, opts authz.Options, p *pkiSet) *env {
	t.Helper()
	st := nodetest.Store(t)
	e := &env{t: t, st: st, pki: p, cas: map[string]string{}}
	e.svc = authz.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan struct{})
	go func() { defer close(followed); model.Follow(ctx, st, nil, e.svc.Load) }()
	t.Cleanup(func() { cancel(); <-followed })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := authz.NewGRPCServer(e.svc) // as the server runs it: pre-encoded answers

	go g.Serve(ln)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.client = authv3.NewAuthorizationClient(conn)
	return e
}

func (e *env) ca(name string, certs ...*testpki.Cert) string {
	e.t.Helper()
	ca, err := e.st.CreateCA(context.Background(), admin, name, testpki.Bundle(certs...), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.cas[name] = ca.GetId()
	return ca.GetId()
}

func (e *env) crl(issuer *testpki.Cert, thisUpdate, nextUpdate time.Time, revoked ...*big.Int) {
	e.t.Helper()
	if _, err := e.st.CreateCRL(context.Background(), admin, issuer.CRL(e.t, time.Now().UnixNano(), thisUpdate, nextUpdate, revoked...)); err != nil {
		e.t.Fatal(err)
	}
}

// site creates a site with the given settings and CAs.
func (e *env) site(host string, set *pb.ClientCertSettings, caIDs ...string) {
	e.t.Helper()
	srv := e.pki.root.Server(e.t, host)
	_, err := e.st.CreateSite(context.Background(), admin, &pb.Site{
		Hostname: host, OriginUrl: "http://127.0.0.1:8080", CaIds: caIDs, Settings: set,
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM()),
		}}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// req is one request as Envoy would describe it.
type req struct {
	ext     string // context extension "site"; "" for none
	sni     string
	host    string
	path    string
	cert    *testpki.Cert
	raw     string // source.certificate verbatim, instead of cert
	newEnc  bool   // newer Envoy's encoding
	headers map[string]string
	peer    string // source address (the downstream of the Envoy asking); "" for none
}

// envoyRequest builds the CheckRequest Envoy sends with
// include_peer_certificate and include_tls_session.
func envoyRequest(r req) *authv3.CheckRequest {
	cert := r.raw
	if r.cert != nil {
		if r.newEnc {
			cert = extract.EncodeNew(r.cert.PEM())
		} else {
			cert = extract.EncodeOld(r.cert.PEM())
		}
	}
	path := r.path
	if path == "" {
		path = "/"
	}
	hdrs := map[string]string{":authority": r.host, ":path": path, ":method": "GET", "user-agent": "test"}
	for k, v := range r.headers {
		hdrs[k] = v
	}
	cr := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Certificate: cert},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Host: r.host, Path: path, Scheme: "https", Protocol: "HTTP/2", Headers: hdrs,
		}},
		TlsSession: &authv3.AttributeContext_TLSSession{Sni: r.sni},
	}}
	if r.ext != "" {
		cr.Attributes.ContextExtensions = map[string]string{"site": r.ext}
	}
	if r.peer != "" {
		cr.Attributes.Source.Address = &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: r.peer, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 41000}}}}
	}
	return cr
}

// check calls Check over gRPC.
func (e *env) check(r req) *authv3.CheckResponse {
	e.t.Helper()
	resp, err := e.client.Check(context.Background(), envoyRequest(r))
	if err != nil {
		e.t.Fatalf("Check: %v", err)
	}
	return resp
}

// waitRev waits until the service has loaded the store's current revision.
func (e *env) waitLoaded() {
	e.t.Helper()
	want := e.st.Current().Rev
	deadline := time.Now().Add(5 * time.Second)
	for e.svc.Revision() < want {
		if time.Now().After(deadline) {
			e.t.Fatalf("policy not loaded: at %d, want %d", e.svc.Revision(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
