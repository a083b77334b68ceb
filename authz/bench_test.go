package authz_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/authz/xfcc"
	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/ocsptest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/ocspcache"
	"github.com/mtlsgate/mtlsgate/originhdr"
	"github.com/mtlsgate/mtlsgate/outbound"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/bolt"
)

// benchEnv is built once: a store with an ECDSA chain, an RSA chain and a
// CA whose CRL has a million entries.
type benchEnv struct {
	st                       *store.Store
	ecdsa, ecdsa2, rsa, rsa2 *testpki.Cert
	bigLeaf                  *testpki.Cert
	// inter issued the ECDSA leaves; ocsp.example.com checks their
	// status by OCSP.
	inter *testpki.Cert
	// laptop and laptop2 are self-signed client certificates
	// (benchIdentities binds them).
	laptop, laptop2 *testpki.Cert
}

var (
	benchOnce sync.Once
	bench     *benchEnv
)

func setupBench(b *testing.B) *benchEnv {
	benchOnce.Do(func() {
		bk, err := bolt.Open(filepath.Join(b.TempDir(), "db"), bolt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		// The bench store lives for the whole run (see closeBench).
		st, err := store.Open(context.Background(), bk, store.Options{Keyring: seal.MustGenerate()})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		root := testpki.NewRoot(b, "Bench Root", testpki.Options{})
		inter := root.Intermediate(b, "Bench Issuing", testpki.Options{})
		rsaRoot := testpki.NewRoot(b, "Bench RSA Root", testpki.Options{Key: testpki.RSA})
		rsaInter := rsaRoot.Intermediate(b, "Bench RSA Issuing", testpki.Options{Key: testpki.RSA})
		bigCA := testpki.NewRoot(b, "Bench Big CRL", testpki.Options{})
		e := &benchEnv{st: st,
			ecdsa: inter.Leaf(b, "e1", testpki.Options{}), ecdsa2: inter.Leaf(b, "e2", testpki.Options{}),
			rsa: rsaInter.Leaf(b, "r1", testpki.Options{Key: testpki.RSA}), rsa2: rsaInter.Leaf(b, "r2", testpki.Options{Key: testpki.RSA}),
			bigLeaf: bigCA.Leaf(b, "big", testpki.Options{}), inter: inter,
			laptop: testpki.SelfSigned(b, "laptop", testpki.Options{}), laptop2: testpki.SelfSigned(b, "laptop2", testpki.Options{}),
		}
		var ids []string
		for name, certs := range map[string][]*testpki.Cert{"ecdsa": {root, inter}, "rsa": {rsaRoot, rsaInter}, "big": {bigCA}} {
			ca, err := st.CreateCA(ctx, store.Actor{}, name, testpki.Bundle(certs...), nil)
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, ca.GetId())
		}
		serials := make([]*big.Int, 1_000_000)
		for i := range serials {
			serials[i] = new(big.Int).SetInt64(int64(i)*7919 + 1_000_003)
		}
		if _, err := st.CreateCRL(ctx, store.Actor{}, bigCA.CRL(b, 1, time.Now(), time.Now().Add(24*time.Hour), serials...)); err != nil {
			b.Fatal(err)
		}
		for host, set := range map[string]*pb.ClientCertSettings{
			"bench.example.com": {Mode: pb.Mode_MODE_ENFORCE}, "open.example.com": {Mode: pb.Mode_MODE_PERMISSIVE},
			"ocsp.example.com":  {Mode: pb.Mode_MODE_ENFORCE, Revocation: &pb.Revocation{Ocsp: pb.OCSPCheck_OCSP_CHECK_LEAF}},
			"xfcc.example.com":  {Mode: pb.Mode_MODE_ENFORCE, CertificateSource: pb.CertificateSource_CERTIFICATE_SOURCE_XFCC},
			"optin.example.com": {Mode: pb.Mode_MODE_ENFORCE, Headers: optInHeaders},
			"ids.example.com": {Mode: pb.Mode_MODE_ENFORCE, IdentityAdmission: pb.IdentityAdmission_IDENTITY_ADMISSION_ALL,
				IdentityMapping: &pb.IdentityMapping{Source: pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_CN}},
			"kind.example.com": {Mode: pb.Mode_MODE_ENFORCE, VerifyAt: pb.VerifyAt_VERIFY_AT_REQUEST, Refusals: []*pb.Refusal{
				{Reasons: []string{"none"}, Answer: &pb.Refusal_Page{Page: &pb.RefusalPage{ContentType: "text/html", Body: benchPage}}}}},
		} {
			srv := root.Server(b, host)
			if _, err := st.CreateSite(ctx, store.Actor{}, &pb.Site{Hostname: host, OriginUrl: "http://127.0.0.1:1",
				CaIds: ids, Settings: set,
				ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
					CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM())}}}}); err != nil {
				b.Fatal(err)
			}
		}
		bench = e
	})
	return bench
}

// closeBench closes the benchmarks' store, if a benchmark opened it.
func closeBench() {
	if bench != nil {
		_ = bench.st.Close()
	}
}

// BenchmarkCheck measures one Check call (no gRPC transport).
func BenchmarkCheck(b *testing.B) {
	e := setupBench(b)
	// ctx is the calls' context; fromNode, whether it names a node (and
	// the service requires one).
	// ocsp answers the OCSP lookups (nil: OCSP not configured).
	ctx, fromNode := context.Background(), false
	var ocsp authz.OCSP
	// inXFCC: the certificates come in an XFCC element (with their
	// chain, as a gateway writes it), not in source.certificate.
	inXFCC := false
	// deny, when set, is the denylist the State is given; idents, its
	// identities.
	var deny []*pb.DenyEntry
	var idents []*pb.Identity
	// denied: the requests are refused (the first one is checked to be).
	denied := false
	run := func(b *testing.B, cacheSize int, host string, certs ...*testpki.Cert) {
		svc := authz.New(authz.Options{CacheSize: cacheSize, DecisionLog: authz.LogOff, RequireNodeIdentity: fromNode, OCSP: ocsp})
		st := e.st.Current()
		if deny != nil {
			st = st.WithDenyEntries(deny)
		}
		if idents != nil {
			st = st.WithIdentities(idents)
		}
		svc.Load(model.Compile(st, nil))
		reqs := make([]*authv3.CheckRequest, max(len(certs), 1))
		for i := range reqs {
			r := req{ext: host, sni: host, host: host, newEnc: true}
			switch {
			case len(certs) > 0 && inXFCC:
				e := element(certs[i], true, bench.inter)
				e.By, e.DNS = []string{"spiffe://cluster.local/ns/istio-system/sa/gateway"}, []string{"client.example"}
				r.headers = map[string]string{originhdr.XFCC: xfcc.Format([]xfcc.Element{e})}
			case len(certs) > 0:
				r.cert = certs[i]
			}
			reqs[i] = envoyRequest(r)
		}
		if resp, _ := svc.Check(ctx, reqs[0]); (resp.GetOkResponse() == nil) != denied {
			b.Fatalf("benchmark request is not answered as expected (denied: %v): %v", denied, resp)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			_, _ = svc.Check(ctx, reqs[i%len(reqs)])
		}
	}
	// A cache of one entry and two alternating certificates: every call
	// builds and verifies the chain.
	b.Run("hit/ecdsa", func(b *testing.B) { run(b, 10000, "bench.example.com", e.ecdsa) })
	b.Run("miss/ecdsa", func(b *testing.B) { run(b, 1, "bench.example.com", e.ecdsa, e.ecdsa2) })
	b.Run("miss/rsa", func(b *testing.B) { run(b, 1, "bench.example.com", e.rsa, e.rsa2) })
	// As hit/ecdsa and miss/ecdsa on a site that sends every opt-in
	// origin header field (issue 15): subject attributes by name and OID,
	// issuer CN, IP SANs, days_left and the SHA-1 fingerprint.
	b.Run("hit/ecdsa/opt-in-headers", func(b *testing.B) { run(b, 10000, "optin.example.com", e.ecdsa) })
	b.Run("miss/ecdsa/opt-in-headers", func(b *testing.B) { run(b, 1, "optin.example.com", e.ecdsa, e.ecdsa2) })
	b.Run("hit/crl-1M", func(b *testing.B) { run(b, 10000, "bench.example.com", e.bigLeaf) })
	// As hit/ecdsa on a site that checks OCSP for the leaf, whose answer
	// (from a responder on loopback, fetched by the first call) is cached:
	// what reading it adds to a call.
	b.Run("hit/ocsp", func(b *testing.B) {
		ocsp = benchOCSP(b)
		defer func() { ocsp = nil }()
		leaf := e.inter.Leaf(b, "ocsp", testpki.Options{OCSP: []string{ocsptest.Start(b, e.inter).URL}})
		run(b, 10000, "ocsp.example.com", leaf)
	})
	// As hit/ecdsa with 100,000 denylist entries, half by fingerprint and
	// half by the leaf's issuer and other serials: what looking the chain
	// up adds to a call.
	deny = benchDenylist(e.inter, 100_000)
	b.Run("hit/ecdsa/deny-100k", func(b *testing.B) { run(b, 10000, "bench.example.com", e.ecdsa) })
	deny = nil
	// On a site admitting every identity's self-signed certificates and
	// naming identities by CN, with 100,000 identities (the two laptops
	// bound, each with 2 more certificates; 1 in 10 with a self-signed
	// one anchored): a self-signed certificate from the cache and
	// verified anew, and a CA-issued one verified anew and mapped.
	idents = benchIdentities(e, 100_000)
	b.Run("hit/pkiless-100k", func(b *testing.B) { run(b, 10000, "ids.example.com", e.laptop) })
	b.Run("miss/pkiless-100k", func(b *testing.B) { run(b, 1, "ids.example.com", e.laptop, e.laptop2) })
	b.Run("miss/ecdsa/mapped-100k", func(b *testing.B) { run(b, 1, "ids.example.com", e.ecdsa, e.ecdsa2) })
	idents = nil
	b.Run("permissive/none", func(b *testing.B) { run(b, 10000, "open.example.com") })
	// As hit/ecdsa on a site that reads the certificate from XFCC (an
	// element with Hash, Cert, Chain, Subject, By, URI and DNS): what
	// parsing the header adds to a call.
	inXFCC = true
	b.Run("hit/xfcc", func(b *testing.B) { run(b, 10000, "xfcc.example.com", e.ecdsa) })
	inXFCC = false
	// As hit/ecdsa, from an Envoy node over a verified TLS connection:
	// what reading the node and its revocation adds to a call.
	// A request without a certificate to an enforcing site: the default
	// denial, and a refusal page (issue 15: a 4 KiB HTML page, built once
	// per policy and shared).
	denied = true
	b.Run("denied/none", func(b *testing.B) { run(b, 10000, "bench.example.com") })
	b.Run("refused/none-page", func(b *testing.B) { run(b, 10000, "kind.example.com") })
	denied = false
	ctx, fromNode = nodePeer(b, e.st), true
	b.Run("hit/ecdsa/node-identity", func(b *testing.B) { run(b, 10000, "bench.example.com", e.ecdsa) })
}

// benchPage is the refusal page of BenchmarkCheck's refused/none-page.
var benchPage = "<!doctype html><title>Certificate required</title><p>{reason}</p>" + strings.Repeat("<p>Enroll at the help desk.</p>", 128)

// benchDenylist returns n deny entries none of which names a benchmark
// certificate: half by fingerprint, half by issuer's name and serial.
func benchDenylist(issuer *testpki.Cert, n int) []*pb.DenyEntry {
	out := make([]*pb.DenyEntry, n)
	for i := range out {
		e := &pb.DenyEntry{Id: fmt.Sprintf("%016x", i)}
		if i%2 == 0 {
			sum := sha256.Sum256([]byte(e.Id))
			e.Sha256Fingerprint = hex.EncodeToString(sum[:])
		} else {
			e.IssuerNameDer, e.Serial = issuer.Cert.RawSubject, fmt.Sprintf("%X", 1_000_000_007+i)
		}
		out[i] = e
	}
	return out
}

// benchIdentities returns n identities: the first two hold e's laptops,
// the others two CA-issued fingerprints each, and one in ten of those a
// self-signed certificate too (the same PEM: parsing is what it costs).
func benchIdentities(e *benchEnv, n int) []*pb.Identity {
	other := testpki.SelfSigned(nopTB{}, "other", testpki.Options{})
	out := make([]*pb.Identity, n)
	for i := range out {
		id := &pb.Identity{Name: fmt.Sprintf("user-%06d", i), Enabled: proto.Bool(true)}
		switch {
		case i < 2:
			c := []*testpki.Cert{e.laptop, e.laptop2}[i]
			id.Certificates = []*pb.BoundCertificate{{Sha256Fingerprint: fingerprintOf(c), CertificatePem: string(c.PEM()), SelfSigned: true}}
		default:
			for k := range 2 {
				sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", id.Name, k)))
				id.Certificates = append(id.Certificates, &pb.BoundCertificate{Sha256Fingerprint: hex.EncodeToString(sum[:])})
			}
			if i%10 == 0 {
				sum := sha256.Sum256([]byte(id.Name))
				id.Certificates = append(id.Certificates, &pb.BoundCertificate{Sha256Fingerprint: hex.EncodeToString(sum[:]),
					CertificatePem: string(other.PEM()), SelfSigned: true})
			}
		}
		out[i] = id
	}
	return out
}

func fingerprintOf(c *testpki.Cert) string {
	sum := sha256.Sum256(c.Cert.Raw)
	return hex.EncodeToString(sum[:])
}

// nopTB is a testpki.TB for making certificates outside a test's helpers.
type nopTB struct{}

func (nopTB) Helper()                      {}
func (nopTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// benchOCSP is an OCSP cache that may reach loopback responders, closed
// when b ends.
func benchOCSP(b *testing.B) *ocspcache.Cache {
	client, err := outbound.New(outbound.Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, outbound.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(client.Close)
	c, err := ocspcache.New(ocspcache.Options{Client: client})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// nodePeer is the context of a call from a node whose certificate the
// connection's TLS handshake verified, recorded in st as issuing it does
// (an unrecorded node is refused).
func nodePeer(b *testing.B, st *store.Store) context.Context {
	ca := testpki.NewRoot(b, "Bench internal CA", testpki.Options{})
	leaf := nodetest.NodeFrom(b, ca, "bench", "edge-1")
	nodetest.Record(b, st, leaf)
	info := credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf.Cert, ca.Cert}}}}
	return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv6loopback, Port: 1}, AuthInfo: info})
}
