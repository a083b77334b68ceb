package model_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a small configuration: two CAs (a root; an intermediate
// with its root) and sites assigned to them.
type fixture struct {
	root, other, inter *testpki.Cert
	cas                []*pb.ClientCA
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{root: testpki.NewRoot(t, "Model Root", testpki.Options{}),
		other: testpki.NewRoot(t, "Other Root", testpki.Options{})}
	f.inter = f.root.Intermediate(t, "Model Intermediate", testpki.Options{})
	f.cas = []*pb.ClientCA{
		{Id: "ca-root", Name: "root", BundlePem: string(f.root.PEM())},
		{Id: "ca-chain", Name: "chain", BundlePem: string(testpki.Bundle(f.inter, f.root))},
		{Id: "ca-other", Name: "other", BundlePem: string(f.other.PEM())},
	}
	return f
}

// site is an enforcing site on the CAs ids, with normalized settings.
func site(t *testing.T, host string, ids ...string) *pb.Site {
	t.Helper()
	s := &pb.Site{Hostname: host, OriginUrl: "https://origin.example:8443", CaIds: ids,
		Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}}
	if err := store.NormalizeSettings(s.Settings, store.DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	return s
}

// crlOf is a CRL of issuer as the store keeps it: its issuer identity,
// scope and distribution points recorded (so that NewState uses the
// message as it is).
func crlOf(t *testing.T, id, caID string, issuer *testpki.Cert, scope testpki.CRLScope, number int64) *pb.CRL {
	t.Helper()
	now := time.Now()
	key := pki.IssuerKeyOf(issuer.Cert)
	c := &pb.CRL{Id: id, CaId: caID, Der: issuer.ScopedCRL(t, scope, number, now.Add(-time.Hour), now.Add(time.Hour)),
		IssuerNameDer: []byte(key.Name), IssuerSpkiSha256: key.SPKI, Scope: pb.CRLScope_CRL_SCOPE_ALL, DistributionPoints: scope.URIs}
	switch {
	case scope.CACerts:
		c.Scope = pb.CRLScope_CRL_SCOPE_CA_CERTS
	case scope.UserCerts:
		c.Scope = pb.CRLScope_CRL_SCOPE_USER_CERTS
	}
	return c
}

func TestCompileSite(t *testing.T) {
	f := newFixture(t)
	s := site(t, "a.example.com", "ca-chain", "ca-root")
	s.Settings.Pins = []*pb.Pin{{Sha256Fingerprint: strings.Repeat("ab", 32), Identity: "alice"}}
	s.Settings.AccessRules = []*pb.AccessRule{{PathPrefix: "/Admin", Subjects: []string{"CN=x"}, Identities: []string{"alice"}}}
	m := model.Compile(store.NewState(1, f.cas, []*pb.Site{s}, nil), nil)
	got := m.Site("a.example.com")
	if got.Err != nil || len(m.Errors) != 0 {
		t.Fatalf("site error %v, model errors %v", got.Err, m.Errors)
	}
	if got.Origin != (model.Origin{Host: "origin.example", Port: 8443, TLS: true}) {
		t.Errorf("origin = %+v", got.Origin)
	}
	if len(got.Certs) != 3 || got.Certs[0].X509.Subject.CommonName != "Model Intermediate" || got.Certs[2] != m.CAs["ca-root"].Certs[0] {
		t.Errorf("certs are not the CAs' in site then bundle order: %d", len(got.Certs))
	}
	// The root is in both CAs: the trust set holds it once, by fingerprint.
	if len(got.Trust.Certs) != 2 || got.Trust.Certs[0].Fingerprint > got.Trust.Certs[1].Fingerprint || !got.Trust.Closed {
		t.Errorf("trust = %d certificates, closed %v", len(got.Trust.Certs), got.Trust.Closed)
	}
	if !strings.Contains(got.Trust.PEM, got.Trust.Certs[0].PEM) || strings.Count(got.Trust.PEM, "BEGIN CERTIFICATE") != 2 {
		t.Error("trust PEM is not its certificates'")
	}
	if iss := got.Links[got.Certs[0].X509]; len(iss) != 2 {
		t.Errorf("the intermediate links to %d certificates, want the root's two copies", len(iss))
	}
	if got.Pins[strings.Repeat("ab", 32)] != "alice" || got.Names == nil || got.Names.VerifyName() != "x-client-cert-verify" {
		t.Errorf("pins %v, names %v", got.Pins, got.Names)
	}
	if r := got.Rules; len(r) != 1 || r[0].Folded != "/admin" || !r[0].Names["subject:CN=x"] || !r[0].Names["identity:alice"] {
		t.Errorf("rules = %+v", r)
	}
	if k := m.IssuerOf(got.Certs[0].Fingerprint); k != pki.IssuerKeyOf(f.root.Cert) {
		t.Errorf("the intermediate's issuer is %v", k)
	}
}

// TestTrustNotClosed: an intermediate assigned without its root is not a
// closed set (Envoy could not verify a CRL of the root's).
func TestTrustNotClosed(t *testing.T) {
	f := newFixture(t)
	cas := append(f.cas, &pb.ClientCA{Id: "ca-inter", BundlePem: string(f.inter.PEM())})
	m := model.Compile(store.NewState(1, cas, []*pb.Site{site(t, "a.example.com", "ca-inter")}, nil), nil)
	if got := m.Site("a.example.com"); got.Err != nil || got.Trust.Closed || len(got.Links) != 0 {
		t.Fatalf("err %v, closed %v, links %d", got.Err, got.Trust.Closed, len(got.Links))
	}
	// The intermediate's issuer is still known from the other CAs.
	if k := m.IssuerOf(pki.Fingerprint(f.inter.Cert.Raw)); k != pki.IssuerKeyOf(f.root.Cert) {
		t.Errorf("issuer = %v", k)
	}
}

func TestSiteErrors(t *testing.T) {
	f := newFixture(t)
	broken := &pb.ClientCA{Id: "ca-broken", BundlePem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}
	cases := []struct {
		name string
		edit func(*pb.Site)
		want string
	}{
		{"missing CA", func(s *pb.Site) { s.CaIds = []string{"ca-gone"} }, "client CA ca-gone does not exist"},
		{"CA that does not parse", func(s *pb.Site) { s.CaIds = []string{"ca-broken"} }, "client CA ca-broken:"},
		{"unknown header field", func(s *pb.Site) { s.Settings.Headers["nonsense"] = "x-a" }, "headers:"},
		{"origin not http(s)", func(s *pb.Site) { s.OriginUrl = "ftp://origin.example" }, "origin URL"},
		{"origin port 0", func(s *pb.Site) { s.OriginUrl = "http://origin.example:0" }, "bad port"},
		{"rule prefix the store refuses", func(s *pb.Site) {
			s.Settings.AccessRules = []*pb.AccessRule{{PathPrefix: "no-slash", Subjects: []string{"CN=x"}}}
		}, "access rules:"},
		{"two rules on one prefix", func(s *pb.Site) {
			s.Settings.AccessRules = []*pb.AccessRule{{PathPrefix: "/a", Subjects: []string{"CN=x"}}, {PathPrefix: "/A", Subjects: []string{"CN=y"}}}
		}, "two rules cover the same paths"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := site(t, "bad.example.com", "ca-root")
			tc.edit(bad)
			good := site(t, "good.example.com", "ca-root")
			m := model.Compile(store.NewState(1, append(f.cas, broken), []*pb.Site{bad, good}, nil), nil)
			got := m.Site("bad.example.com")
			if got.Err == nil || !strings.Contains(got.Err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", got.Err, tc.want)
			}
			if got.Msg != bad || got.Names != nil || got.Trust != nil || got.Certs != nil {
				t.Error("a failed site carries more than its message and error")
			}
			if !errors.Is(m.Errors[store.SiteRef("bad.example.com")], got.Err) {
				t.Error("the error is not in Errors under the site's reference")
			}
			if m.Site("good.example.com").Err != nil {
				t.Errorf("the site beside it failed: %v", m.Site("good.example.com").Err)
			}
			if m.Errors[store.CARef("ca-broken")] == nil || m.CAs["ca-broken"].Err == nil {
				t.Error("the broken CA's error is not reported")
			}
		})
	}
}

// TestCompileReusesByIdentity: what did not change keeps its pointer, so
// consumers reuse what they built; what changed, and what depends on it,
// is compiled anew.
func TestCompileReusesByIdentity(t *testing.T) {
	f := newFixture(t)
	a, b := site(t, "a.example.com", "ca-root"), site(t, "b.example.com", "ca-other")
	crl := crlOf(t, "crl-1", "ca-root", f.root, testpki.CRLScope{}, 1)
	first := model.Compile(store.NewState(1, f.cas, []*pb.Site{a, b}, []*pb.CRL{crl}), nil)
	same := model.Compile(store.NewState(2, f.cas, []*pb.Site{a, b}, []*pb.CRL{crl}), first)
	for id := range first.CAs {
		if same.CAs[id] != first.CAs[id] {
			t.Errorf("CA %s parsed again", id)
		}
	}
	if same.Site("a.example.com") != first.Site("a.example.com") || same.CRLs["crl-1"] != first.CRLs["crl-1"] {
		t.Error("an unchanged site or CRL was compiled again")
	}

	// A new message for ca-other: b is compiled again, a is not.
	cas := append([]*pb.ClientCA{}, f.cas...)
	cas[2] = proto.Clone(cas[2]).(*pb.ClientCA)
	next := model.Compile(store.NewState(3, cas, []*pb.Site{a, b}, []*pb.CRL{crl}), same)
	if next.Site("a.example.com") != same.Site("a.example.com") {
		t.Error("a site whose CAs did not change was compiled again")
	}
	if next.Site("b.example.com") == same.Site("b.example.com") || next.CAs["ca-other"] == same.CAs["ca-other"] {
		t.Error("the changed CA, or the site on it, was reused")
	}
	// A changed site message is compiled again.
	a2 := proto.Clone(a).(*pb.Site)
	a2.OriginUrl = "http://other.example"
	last := model.Compile(store.NewState(4, cas, []*pb.Site{a2, b}, []*pb.CRL{crl}), next)
	if last.Site("a.example.com") == next.Site("a.example.com") || last.Site("a.example.com").Origin.Host != "other.example" {
		t.Error("a changed site was reused")
	}
	if last.Site("b.example.com") != next.Site("b.example.com") {
		t.Error("the unchanged site beside it was compiled again")
	}
}

// TestFailedCRLIsRetried: a CRL whose issuer was in no CA is placed once
// the CA arrives, though its message is the same.
func TestFailedCRLIsRetried(t *testing.T) {
	f := newFixture(t)
	crl := crlOf(t, "crl-1", "ca-other", f.other, testpki.CRLScope{}, 1)
	first := model.Compile(store.NewState(1, f.cas[:2], nil, []*pb.CRL{crl}), nil)
	if first.CRLs["crl-1"].Err == nil || first.Errors[store.CRLRef("crl-1")] == nil || first.Revocation(store.CRLIssuerKey(crl)) != nil {
		t.Fatal("a CRL of an issuer in no CA was placed")
	}
	second := model.Compile(store.NewState(2, f.cas, nil, []*pb.CRL{crl}), first)
	if c := second.CRLs["crl-1"]; c.Err != nil || c.Set == nil || len(second.Errors) != 0 {
		t.Fatalf("CRL not placed once its issuer is uploaded: %v", c.Err)
	}
}
