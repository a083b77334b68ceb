package authz_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// identityEnv has sites trusting root and inter with each identity
// setting, and the identities alice (a self-signed laptop certificate and
// p.good bound), bob (disabled, p.goodRSA's CA-issued twin bound) and
// carol (a self-signed certificate).
type identityEnv struct {
	*env
	laptop, carolKey, bobCert *testpki.Cert
}

func newIdentityEnv(t *testing.T) *identityEnv {
	e := &identityEnv{env: newEnv(t, authz.Options{})}
	ctx := context.Background()
	p := e.pki
	e.laptop = testpki.SelfSigned(t, "alice laptop", testpki.Options{})
	e.carolKey = testpki.SelfSigned(t, "carol", testpki.Options{})
	e.bobCert = p.inter.Leaf(t, "bob", testpki.Options{})
	for _, id := range []struct {
		name  string
		on    bool
		certs []*testpki.Cert
	}{{"alice", true, []*testpki.Cert{e.laptop, p.good}}, {"bob", false, []*testpki.Cert{e.bobCert}}, {"carol", true, []*testpki.Cert{e.carolKey}}} {
		if _, err := e.st.CreateIdentity(ctx, admin, &pb.Identity{Name: id.name, Enabled: proto.Bool(id.on)}); err != nil {
			t.Fatal(err)
		}
		for _, c := range id.certs {
			if _, err := e.st.BindCertificate(ctx, admin, id.name, c.PEM(), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	ca := e.ca("ecdsa", p.root, p.inter)
	all, listed := pb.IdentityAdmission_IDENTITY_ADMISSION_ALL, pb.IdentityAdmission_IDENTITY_ADMISSION_LISTED
	e.site("ca-only.example.com", &pb.ClientCertSettings{Mode: enforce}, ca)
	e.site("all.example.com", &pb.ClientCertSettings{Mode: enforce, IdentityAdmission: all}, ca)
	e.site("listed.example.com", &pb.ClientCertSettings{Mode: enforce, IdentityAdmission: listed, AdmittedIdentities: []string{"alice", "CN-dave"}}, ca)
	e.site("nocas.example.com", &pb.ClientCertSettings{Mode: enforce, IdentityAdmission: all})
	e.site("mapped.example.com", &pb.ClientCertSettings{Mode: enforce, IdentityMapping: &pb.IdentityMapping{
		Source: pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_CN}}, ca)
	e.site("permissive.example.com", &pb.ClientCertSettings{Mode: permissive, IdentityAdmission: all}, ca)
	e.site("pinned.example.com", &pb.ClientCertSettings{Mode: enforce, Pins: []*pb.Pin{
		{Sha256Fingerprint: pki.Fingerprint(p.good.Cert.Raw), Identity: "ops"}}}, ca)
	e.waitLoaded()
	return e
}

// TestIdentityAdmission: self-signed bound certificates pass only where
// admitted, whatever the CAs; the identity reaches the origin from a
// binding, a mapping or nothing; disabled identities are refused
// everywhere, and listed admission refuses the others.
func TestIdentityAdmission(t *testing.T) {
	e := newIdentityEnv(t)
	p := e.pki
	stranger := testpki.SelfSigned(t, "stranger", testpki.Options{})
	noEKU := testpki.SelfSigned(t, "no eku", testpki.Options{NoEKU: true})
	dave := p.inter.Leaf(t, "CN-dave", testpki.Options{})
	at := func(host string, c *testpki.Cert) req { return req{ext: host, sni: host, host: host, cert: c} }
	for _, c := range []struct {
		name     string
		r        req
		want     want
		identity string
	}{
		{"ca-only: self-signed bound is untrusted", at("ca-only.example.com", e.laptop), want{status: 403, reason: "untrusted"}, ""},
		{"ca-only: CA-issued bound names its identity", at("ca-only.example.com", p.good), want{allow: true, verify: "SUCCESS"}, "alice"},
		{"ca-only: disabled identity refused", at("ca-only.example.com", e.bobCert), want{status: 403, reason: "identity_disabled"}, ""},
		{"ca-only: unbound CA-issued passes without identity", at("ca-only.example.com", p.viaRoot), want{allow: true, verify: "SUCCESS"}, ""},
		{"all: self-signed bound passes", at("all.example.com", e.laptop), want{allow: true, verify: "SUCCESS"}, "alice"},
		{"all: another identity's self-signed passes", at("all.example.com", e.carolKey), want{allow: true, verify: "SUCCESS"}, "carol"},
		{"all: unbound self-signed is untrusted", at("all.example.com", stranger), want{status: 403, reason: "untrusted"}, ""},
		{"all: CA-issued still passes", at("all.example.com", p.viaRoot), want{allow: true, verify: "SUCCESS"}, ""},
		{"listed: admitted self-signed", at("listed.example.com", e.laptop), want{allow: true, verify: "SUCCESS"}, "alice"},
		{"listed: unlisted self-signed is untrusted", at("listed.example.com", e.carolKey), want{status: 403, reason: "untrusted"}, ""},
		{"listed: CA-issued without identity", at("listed.example.com", p.viaRoot), want{status: 403, reason: "identity_not_admitted"}, ""},
		{"listed: CA-issued bound to a listed identity", at("listed.example.com", p.good), want{allow: true, verify: "SUCCESS"}, "alice"},
		{"nocas: self-signed bound without any CA", at("nocas.example.com", e.laptop), want{allow: true, verify: "SUCCESS"}, "alice"},
		{"nocas: CA-issued is untrusted", at("nocas.example.com", p.viaRoot), want{status: 403, reason: "untrusted"}, ""},
		{"mapped: the CN names the identity", at("mapped.example.com", dave), want{allow: true, verify: "SUCCESS"}, "CN-dave"},
		{"mapped: a binding wins over the mapping", at("mapped.example.com", p.good), want{allow: true, verify: "SUCCESS"}, "alice"},
		{"mapped: a mapped disabled identity is refused", at("mapped.example.com", p.inter.Leaf(t, "bob", testpki.Options{})), want{status: 403, reason: "identity_disabled"}, ""},
		{"permissive: disabled reported", at("permissive.example.com", e.bobCert), want{allow: true, verify: "FAILED:identity_disabled"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := e.check(c.r)
			assertResponse(t, resp, c.want)
			if c.want.allow {
				if got := setHeaders(t, resp.GetOkResponse())["x-client-cert-identity"]; got != c.identity {
					t.Errorf("identity header %q, want %q", got, c.identity)
				}
			}
		})
	}
	// PKI-less still needs clientAuth: a bound self-signed certificate
	// cannot lack it (BindCertificate refuses), so only an admitted one
	// could; the store's refusal is the guard.
	if _, err := e.st.BindCertificate(context.Background(), admin, "carol", noEKU.PEM(), ""); err == nil {
		t.Error("a self-signed certificate without clientAuth was bound")
	}
}

// TestIdentityDisabledAtOnce: disabling an identity refuses its cached
// certificate from the next request on every site, and enabling it lets
// it through again; unbinding a self-signed certificate makes it
// untrusted.
func TestIdentityDisabledAtOnce(t *testing.T) {
	e := newIdentityEnv(t)
	ctx := context.Background()
	laptop := req{ext: "all.example.com", sni: "all.example.com", host: "all.example.com", cert: e.laptop}
	issued := req{ext: "ca-only.example.com", sni: "ca-only.example.com", host: "ca-only.example.com", cert: e.pki.good}
	assertResponse(t, e.check(laptop), want{allow: true, verify: "SUCCESS"})
	assertResponse(t, e.check(issued), want{allow: true, verify: "SUCCESS"})
	set := func(on bool) {
		if _, err := e.st.UpdateIdentity(ctx, admin, &pb.Identity{Name: "alice", Enabled: proto.Bool(on)}, []string{"enabled"}); err != nil {
			t.Fatal(err)
		}
		e.waitLoaded()
	}
	set(false)
	// A disabled identity's self-signed certificates are no longer
	// anchors, and both kinds are refused as identity_disabled.
	assertResponse(t, e.check(laptop), want{status: 403, reason: "identity_disabled"})
	assertResponse(t, e.check(issued), want{status: 403, reason: "identity_disabled"})
	// Where it was never admitted, it stays merely untrusted.
	assertResponse(t, e.check(req{ext: "ca-only.example.com", sni: "ca-only.example.com", host: "ca-only.example.com", cert: e.laptop}),
		want{status: 403, reason: "untrusted"})
	// A pin naming it otherwise does not save it: every name linked to
	// the certificate is checked.
	assertResponse(t, e.check(req{ext: "pinned.example.com", sni: "pinned.example.com", host: "pinned.example.com", cert: e.pki.good}),
		want{status: 403, reason: "identity_disabled"})
	set(true)
	assertResponse(t, e.check(laptop), want{allow: true, verify: "SUCCESS"})
	resp := e.check(req{ext: "pinned.example.com", sni: "pinned.example.com", host: "pinned.example.com", cert: e.pki.good})
	assertResponse(t, resp, want{allow: true, verify: "SUCCESS"})
	if got := setHeaders(t, resp.GetOkResponse())["x-client-cert-identity"]; got != "alice" {
		t.Errorf("the binding's name comes first: %q", got)
	}
	// A certificate bound to an enabled identity whose CN maps to a
	// disabled one is refused where the mapping applies.
	bobCN := e.pki.inter.Leaf(t, "bob", testpki.Options{})
	if _, err := e.st.BindCertificate(ctx, admin, "carol", bobCN.PEM(), ""); err != nil {
		t.Fatal(err)
	}
	e.waitLoaded()
	assertResponse(t, e.check(req{ext: "mapped.example.com", sni: "mapped.example.com", host: "mapped.example.com", cert: bobCN}),
		want{status: 403, reason: "identity_disabled"})
	assertResponse(t, e.check(req{ext: "ca-only.example.com", sni: "ca-only.example.com", host: "ca-only.example.com", cert: bobCN}),
		want{allow: true, verify: "SUCCESS"})
	if _, err := e.st.UnbindCertificate(ctx, admin, "alice", pki.Fingerprint(e.laptop.Cert.Raw)); err != nil {
		t.Fatal(err)
	}
	e.waitLoaded()
	assertResponse(t, e.check(laptop), want{status: 403, reason: "untrusted"})
}

// TestIdentitySNIMismatch: a connection made for a site is not used for
// another whose identity policy trusts other certificates (other
// self-signed anchors, listed admission, a mapping), whichever way; sites
// alike in both stay reachable over one connection.
func TestIdentitySNIMismatch(t *testing.T) {
	e := newIdentityEnv(t)
	for _, c := range []struct{ sni, host string }{
		{"ca-only.example.com", "listed.example.com"},
		{"listed.example.com", "ca-only.example.com"},
		{"all.example.com", "ca-only.example.com"},
		{"ca-only.example.com", "mapped.example.com"},
	} {
		resp := e.check(req{ext: c.sni, sni: c.sni, host: c.host, cert: e.pki.viaRoot})
		if d := resp.GetDeniedResponse(); d == nil || d.GetStatus().GetCode() != 421 {
			t.Errorf("SNI %s, Host %s: %v, want 421", c.sni, c.host, resp.GetStatus())
		}
	}
	e.site("ca-only-2.example.com", &pb.ClientCertSettings{Mode: enforce}, e.cas["ecdsa"])
	e.waitLoaded()
	resp := e.check(req{ext: "ca-only.example.com", sni: "ca-only.example.com", host: "ca-only-2.example.com", cert: e.pki.viaRoot})
	assertResponse(t, resp, want{allow: true, verify: "SUCCESS"})
}
