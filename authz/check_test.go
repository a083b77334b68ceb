package authz_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/originhdr"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

const (
	enforce    = pb.Mode_MODE_ENFORCE
	permissive = pb.Mode_MODE_PERMISSIVE
	disabled   = pb.Mode_MODE_DISABLED
)

// standardEnv has one site per behaviour under test.
func standardEnv(t *testing.T) *env {
	e := newEnv(t, authz.Options{DecisionLog: authz.LogAll})
	now := time.Now()
	p := e.pki
	ecdsa := e.ca("ecdsa", p.root, p.inter)
	rsa := e.ca("rsa", p.rsaRoot)
	stale := e.ca("stale", p.staleCA)
	inter := e.ca("inter-only", p.inter)
	e.crl(p.inter, now.Add(-time.Hour), now.Add(time.Hour), p.revoked.Cert.SerialNumber)
	e.crl(p.root, now.Add(-time.Hour), now.Add(time.Hour), p.inter.Cert.SerialNumber)
	e.crl(p.staleCA, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	no := false
	e.site("enforce.example.com", &pb.ClientCertSettings{Mode: enforce}, ecdsa, rsa)
	e.site("permissive.example.com", &pb.ClientCertSettings{Mode: permissive}, ecdsa)
	e.site("disabled.example.com", &pb.ClientCertSettings{Mode: disabled}, ecdsa)
	e.site("*.wild.example.com", &pb.ClientCertSettings{Mode: enforce}, ecdsa)
	e.site("nginx.example.com", &pb.ClientCertSettings{Mode: enforce, BadCertificateStatus: 495, MissingCertificateStatus: 496}, ecdsa)
	e.site("stale-deny.example.com", &pb.ClientCertSettings{Mode: enforce}, stale)
	e.site("stale-allow.example.com", &pb.ClientCertSettings{Mode: enforce, Revocation: &pb.Revocation{OnStaleCrl: pb.StaleCRLAction_STALE_CRL_ACTION_ALLOW}}, stale)
	e.site("lenient.example.com", &pb.ClientCertSettings{Mode: enforce, AllowExpired: true, RequireClientAuthEku: &no}, ecdsa)
	e.site("nocrl.example.com", &pb.ClientCertSettings{Mode: enforce, Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_OFF}}, ecdsa)
	e.site("chain.example.com", &pb.ClientCertSettings{Mode: enforce, Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_CHAIN}}, ecdsa)
	e.site("inter.example.com", &pb.ClientCertSettings{Mode: enforce}, inter)
	e.site("pinned.example.com", &pb.ClientCertSettings{Mode: enforce, Pins: []*pb.Pin{
		{Sha256Fingerprint: pki.Fingerprint(p.good.Cert.Raw), Identity: "alice-svc"}}}, ecdsa)
	e.site("rules.example.com", &pb.ClientCertSettings{Mode: permissive, AccessRules: []*pb.AccessRule{
		{PathPrefix: "/admin", Subjects: []string{p.good.Cert.Subject.String()}},
		{PathPrefix: "/ops", DnsNames: []string{"alice.clients.example"}},
	}}, ecdsa)
	e.site("renamed.example.com", &pb.ClientCertSettings{Mode: permissive, Headers: renamedHeaders}, ecdsa)
	e.site("optin.example.com", &pb.ClientCertSettings{Mode: permissive, Headers: optInHeaders}, ecdsa)
	e.site("enforce.xfcc.example.com", &pb.ClientCertSettings{Mode: enforce, CertificateSource: pb.CertificateSource_CERTIFICATE_SOURCE_XFCC}, ecdsa)
	e.site("enforce.kind.example.com", kindSettings, ecdsa) // refusal_test.go
	e.waitLoaded()
	return e
}

// renamedHeaders are finding 5's settings: verify renamed, subject off.
var renamedHeaders = map[string]string{"verify": "x-tls-verify", "subject": ""}

type want struct {
	allow  bool
	status uint32
	verify string // verify header of an allowed request; "" = not set
	reason string // in the denial body
}

func TestCheck(t *testing.T) {
	e := standardEnv(t)
	p := e.pki
	at := func(host string, c *testpki.Cert) req { return req{ext: host, sni: host, host: host, cert: c} }
	garbage := req{ext: "enforce.example.com", sni: "enforce.example.com", host: "enforce.example.com", raw: "-----BEGIN%20CERTIFICATE-----%0Anope%0A-----END%20CERTIFICATE-----%0A"}
	cases := []struct {
		name string
		r    req
		want want
	}{
		{"enforce: valid ECDSA leaf via intermediate", at("enforce.example.com", p.good), want{allow: true, verify: "SUCCESS"}},
		{"enforce: valid RSA leaf", at("enforce.example.com", p.goodRSA), want{allow: true, verify: "SUCCESS"}},
		{"enforce: leaf issued by the bundle's root", at("enforce.example.com", p.viaRoot), want{allow: true, verify: "SUCCESS"}},
		{"enforce: no certificate", at("enforce.example.com", nil), want{status: 403, reason: "no_certificate"}},
		{"enforce: another CA", at("enforce.example.com", p.untrusted), want{status: 403, reason: "untrusted"}},
		{"enforce: expired", at("enforce.example.com", p.expired), want{status: 403, reason: "expired"}},
		{"enforce: not yet valid", at("enforce.example.com", p.notYet), want{status: 403, reason: "not_yet_valid"}},
		{"enforce: no EKU extension", at("enforce.example.com", p.noEKU), want{status: 403, reason: "missing_client_auth_eku"}},
		{"enforce: serverAuth only", at("enforce.example.com", p.serverOnly), want{status: 403, reason: "missing_client_auth_eku"}},
		{"enforce: revoked", at("enforce.example.com", p.revoked), want{status: 403, reason: "revoked"}},
		{"enforce: malformed", garbage, want{status: 403, reason: "malformed"}},
		{"enforce 495/496: bad certificate", at("nginx.example.com", p.untrusted), want{status: 495, reason: "untrusted"}},
		{"enforce 495/496: no certificate", at("nginx.example.com", nil), want{status: 496, reason: "no_certificate"}},

		{"permissive: none", at("permissive.example.com", nil), want{allow: true, verify: "NONE"}},
		{"permissive: valid", at("permissive.example.com", p.good), want{allow: true, verify: "SUCCESS"}},
		{"permissive: another CA", at("permissive.example.com", p.untrusted), want{allow: true, verify: "FAILED:untrusted"}},
		{"permissive: expired", at("permissive.example.com", p.expired), want{allow: true, verify: "FAILED:expired"}},
		{"permissive: revoked", at("permissive.example.com", p.revoked), want{allow: true, verify: "FAILED:revoked"}},
		{"permissive: no EKU", at("permissive.example.com", p.noEKU), want{allow: true, verify: "FAILED:missing_client_auth_eku"}},

		{"disabled: certificate ignored", at("disabled.example.com", p.untrusted), want{allow: true}},
		{"disabled: none", at("disabled.example.com", nil), want{allow: true}},

		{"stale CRL denies", at("stale-deny.example.com", p.staleLeaf), want{status: 403, reason: "crl_stale"}},
		{"stale CRL allowed by setting", at("stale-allow.example.com", p.staleLeaf), want{allow: true, verify: "SUCCESS"}},
		{"allow_expired", at("lenient.example.com", p.expired), want{allow: true, verify: "SUCCESS"}},
		{"EKU not required", at("lenient.example.com", p.noEKU), want{allow: true, verify: "SUCCESS"}},
		{"revocation off", at("nocrl.example.com", p.revoked), want{allow: true, verify: "SUCCESS"}},
		{"chain revocation: revoked intermediate", at("chain.example.com", p.good), want{status: 403, reason: "revoked"}},
		{"intermediate alone is an anchor", at("inter.example.com", p.good), want{allow: true, verify: "SUCCESS"}},
		{"intermediate alone does not trust its root's other leaves", at("inter.example.com", p.viaRoot), want{status: 403, reason: "untrusted"}},

		{"pinned certificate", at("pinned.example.com", p.good), want{allow: true, verify: "SUCCESS"}},
		{"valid but not pinned", at("pinned.example.com", p.viaRoot), want{status: 403, reason: "not_pinned"}},

		{"rule: allowed subject", req{sni: "rules.example.com", host: "rules.example.com", path: "/admin/x?y=1", cert: p.good}, want{allow: true, verify: "SUCCESS"}},
		{"rule: other subject", req{sni: "rules.example.com", host: "rules.example.com", path: "/admin", cert: p.viaRoot}, want{status: 403, reason: "not_allowed"}},
		{"rule: no certificate", req{sni: "rules.example.com", host: "rules.example.com", path: "/admin"}, want{status: 403, reason: "not_allowed"}},
		{"rule: bad certificate", req{sni: "rules.example.com", host: "rules.example.com", path: "/admin", cert: p.untrusted}, want{status: 403, reason: "not_allowed"}},
		{"rule: dot-dot does not escape", req{sni: "rules.example.com", host: "rules.example.com", path: "/public/../admin"}, want{status: 400, reason: "ambiguous_path"}},
		{"rule: percent-encoding does not escape", req{sni: "rules.example.com", host: "rules.example.com", path: "/%61dmin"}, want{status: 403, reason: "not_allowed"}},
		{"rule: DNS SAN", req{sni: "rules.example.com", host: "rules.example.com", path: "/ops", cert: p.good}, want{allow: true, verify: "SUCCESS"}},
		{"rule: unruled path", req{sni: "rules.example.com", host: "rules.example.com", path: "/public"}, want{allow: true, verify: "NONE"}},
		{"rule: undecodable path", req{sni: "rules.example.com", host: "rules.example.com", path: "/%zz"}, want{status: 400, reason: "bad_request"}},

		{"wildcard matches one label", req{sni: "a.wild.example.com", host: "a.wild.example.com", cert: p.good}, want{allow: true, verify: "SUCCESS"}},
		{"wildcard does not match two labels", req{sni: "a.b.wild.example.com", host: "a.b.wild.example.com", cert: p.good}, want{status: 403, reason: "unknown_site"}},
		{"site from the authority, with port and case", req{host: "Enforce.Example.COM:443", cert: p.good}, want{allow: true, verify: "SUCCESS"}},
		{"unknown site", at("nothing.example.com", p.good), want{status: 403, reason: "unknown_site"}},
		{"unknown context extension", req{ext: "gone.example.com", sni: "enforce.example.com", host: "enforce.example.com", cert: p.good}, want{status: 403, reason: "unknown_site"}},

		{"SNI disabled, Host enforcing", req{sni: "disabled.example.com", host: "enforce.example.com"}, want{status: 421, reason: "sni_mismatch"}},
		{"SNI permissive, Host enforcing", req{sni: "permissive.example.com", host: "enforce.example.com", cert: p.good}, want{status: 421, reason: "sni_mismatch"}},
		{"SNI of other CAs, Host enforcing", req{sni: "inter.example.com", host: "enforce.example.com", cert: p.good}, want{status: 421, reason: "sni_mismatch"}},
		{"route of an enforcing site over a disabled handshake", req{ext: "enforce.example.com", sni: "disabled.example.com", host: "enforce.example.com"}, want{status: 421, reason: "sni_mismatch"}},
		{"SNI unknown, Host enforcing", req{sni: "nothing.example.com", host: "enforce.example.com"}, want{status: 403, reason: "unknown_site"}},
		{"SNI enforcing, Host disabled: not weaker", req{sni: "enforce.example.com", host: "disabled.example.com", cert: p.good}, want{allow: true, verify: "SUCCESS"}},
	}
	for _, tc := range cases {
		for _, newEnc := range []bool{false, true} {
			r := tc.r
			r.newEnc = newEnc
			name := tc.name
			if newEnc {
				name += " (new encoding)"
			}
			t.Run(name, func(t *testing.T) {
				assertResponse(t, e.check(r), tc.want)
			})
		}
	}
}

// originNames is the default header set every allowed response must own.
func originNames() []string {
	var out []string
	for _, n := range store.DefaultHeaders {
		out = append(out, n)
	}
	return append(out, originhdr.XFCC) // forwarded by no site in these tests
}

func assertResponse(t *testing.T, resp *authv3.CheckResponse, w want) {
	t.Helper()
	if !w.allow {
		d := resp.GetDeniedResponse()
		if resp.GetStatus().GetCode() != 7 || d == nil {
			t.Fatalf("want a denial, got %v", resp)
		}
		if uint32(d.GetStatus().GetCode()) != w.status || !strings.Contains(d.GetBody(), "("+w.reason+")") {
			t.Fatalf("denial %d %q, want %d with reason %s", d.GetStatus().GetCode(), d.GetBody(), w.status, w.reason)
		}
		for _, h := range d.GetHeaders() {
			if strings.HasPrefix(h.GetHeader().GetKey(), "x-client-cert") {
				t.Fatalf("denial carries certificate details: %v", h)
			}
		}
		return
	}
	ok := resp.GetOkResponse()
	if resp.GetStatus().GetCode() != 0 || ok == nil {
		t.Fatalf("want allowed, got %v", resp)
	}
	set := setHeaders(t, ok)
	if set["x-client-cert-verify"] != w.verify {
		t.Fatalf("verify header %q, want %q", set["x-client-cert-verify"], w.verify)
	}
	removed := map[string]bool{}
	for _, n := range ok.GetHeadersToRemove() {
		if _, both := set[n]; both {
			t.Fatalf("%s is both set and removed: Envoy would drop the value", n)
		}
		removed[n] = true
	}
	// A client's own copy of any origin header can never survive: each is
	// overwritten or removed.
	for _, n := range originNames() {
		if _, isSet := set[n]; !isSet && !removed[n] {
			t.Fatalf("%s is neither set nor removed: a client-sent value would reach the origin", n)
		}
	}
}

// setHeaders returns the headers an allowed response sets, checking each
// uses OVERWRITE_IF_EXISTS_OR_ADD.
func setHeaders(t *testing.T, ok *authv3.OkHttpResponse) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range ok.GetHeaders() {
		if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Fatalf("header %s has append action %v", h.GetHeader().GetKey(), h.GetAppendAction())
		}
		if _, dup := out[h.GetHeader().GetKey()]; dup {
			t.Fatalf("header %s set twice", h.GetHeader().GetKey())
		}
		out[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return out
}

func TestOriginHeaderValues(t *testing.T) {
	e := standardEnv(t)
	p := e.pki
	resp := e.check(req{sni: "pinned.example.com", host: "pinned.example.com", cert: p.good,
		headers: map[string]string{"x-client-cert-verify": "SUCCESS", "client-cert": ":Zm9v:", "x-client-cert-identity": "root"}})
	set := setHeaders(t, resp.GetOkResponse())
	c := p.good.Cert
	wantHeaders := map[string]string{
		"x-client-cert-verify":             "SUCCESS",
		"x-client-cert-fingerprint-sha256": pki.Fingerprint(c.Raw),
		"x-client-cert-subject":            c.Subject.String(),
		"x-client-cert-issuer":             c.Issuer.String(),
		"x-client-cert-serial":             pki.SerialHex(c.SerialNumber),
		"x-client-cert-not-before":         c.NotBefore.UTC().Format(time.RFC3339),
		"x-client-cert-not-after":          c.NotAfter.UTC().Format(time.RFC3339),
		"x-client-cert-san-dns":            "alice.clients.example",
		"x-client-cert-san-uri":            "spiffe://example/alice",
		"x-client-cert-san-email":          "alice@example.com",
		"x-client-cert-identity":           "alice-svc",
		"client-cert":                      ":" + base64.StdEncoding.EncodeToString(c.Raw) + ":",
	}
	for k, v := range wantHeaders {
		if set[k] != v {
			t.Errorf("%s = %q, want %q", k, set[k], v)
		}
	}
	// Permissive without a certificate: only the verify header is set, and
	// the client's own certificate headers are removed.
	resp = e.check(req{sni: "permissive.example.com", host: "permissive.example.com",
		headers: map[string]string{"x-client-cert-verify": "SUCCESS", "client-cert": ":Zm9v:"}})
	set = setHeaders(t, resp.GetOkResponse())
	if len(set) != 1 || set["x-client-cert-verify"] != "NONE" {
		t.Fatalf("permissive/none sets %v", set)
	}
}

// TestPolicyChangeTakesEffect: a settings change through the store reaches
// Check (well within the one second allowed), and never leaves a stale
// cached verdict behind.
func TestPolicyChangeTakesEffect(t *testing.T) {
	e := standardEnv(t)
	r := req{sni: "permissive.example.com", host: "permissive.example.com", cert: e.pki.untrusted}
	assertResponse(t, e.check(r), want{allow: true, verify: "FAILED:untrusted"})
	if _, err := e.st.UpdateSettings(context.Background(), admin, "permissive.example.com",
		&pb.ClientCertSettings{Mode: enforce}, []string{"mode"}); err != nil {
		t.Fatal(err)
	}
	e.waitLoaded()
	assertResponse(t, e.check(r), want{status: 403, reason: "untrusted"})

	// Trusting the other CA turns the cached "untrusted" verdict around.
	other := e.ca("other", e.pki.other)
	if _, err := e.st.AssignSiteCAs(context.Background(), admin, "permissive.example.com", []string{other}, true); err != nil {
		t.Fatal(err)
	}
	e.waitLoaded()
	assertResponse(t, e.check(r), want{allow: true, verify: "SUCCESS"})
}

func TestMalformedRequestsFailClosed(t *testing.T) {
	e := standardEnv(t)
	for name, cr := range map[string]*authv3.CheckRequest{
		"empty":   {},
		"no http": {Attributes: &authv3.AttributeContext{}},
	} {
		resp, err := e.client.Check(context.Background(), cr)
		if err != nil || resp.GetDeniedResponse() == nil {
			t.Errorf("%s: %v %v", name, resp, err)
		}
	}
}

// TestEmptyServiceDenies: before any policy is loaded, everything is denied.
func TestEmptyServiceDenies(t *testing.T) {
	svc := authz.New(authz.Options{})
	resp, err := svc.Check(context.Background(), envoyRequest(req{sni: "a.example.com", host: "a.example.com"}))
	if err != nil || resp.GetDeniedResponse() == nil {
		t.Fatalf("%v %v", resp, err)
	}
}

// TestCRLScope: a CRL whose issuing distribution point covers only user
// certificates cannot revoke an intermediate.
func TestCRLScope(t *testing.T) {
	for _, scoped := range []bool{false, true} {
		e := newEnv(t, authz.Options{})
		p := e.pki
		ca := e.ca("ecdsa", p.root, p.inter)
		tpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour),
			RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: p.inter.Cert.SerialNumber, RevocationTime: time.Now()}}}
		if scoped {
			// IssuingDistributionPoint { onlyContainsUserCerts TRUE }
			tpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 28}, Critical: true, Value: []byte{0x30, 0x03, 0x81, 0x01, 0xff}}}
		}
		der, err := x509.CreateRevocationList(rand.Reader, tpl, p.root.Cert, p.root.Key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.CreateCRL(context.Background(), admin, der); err != nil {
			t.Fatal(err)
		}
		e.site("chain.example.com", &pb.ClientCertSettings{Mode: enforce, Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_CHAIN}}, ca)
		e.waitLoaded()
		r := req{sni: "chain.example.com", host: "chain.example.com", cert: p.good}
		if scoped {
			assertResponse(t, e.check(r), want{allow: true, verify: "SUCCESS"})
		} else {
			assertResponse(t, e.check(r), want{status: 403, reason: "revoked"})
		}
	}
}

// TestConcurrentChecksShareAnswers: answers built once and shared between
// requests (per verdict, per policy, per denial) are read by many gRPC
// streams at once; under -race this shows they are never written after
// being built, and each request still gets its own certificate's headers.
func TestConcurrentChecksShareAnswers(t *testing.T) {
	e := standardEnv(t)
	p := e.pki
	cases := []struct {
		r       req
		status  int32 // denial status; 0 means allowed
		fp, ver string
	}{
		{req{sni: "enforce.example.com", host: "enforce.example.com", cert: p.good}, 0, pki.Fingerprint(p.good.Cert.Raw), "SUCCESS"},
		{req{sni: "enforce.example.com", host: "enforce.example.com", cert: p.goodRSA}, 0, pki.Fingerprint(p.goodRSA.Cert.Raw), "SUCCESS"},
		{req{sni: "permissive.example.com", host: "permissive.example.com"}, 0, "", "NONE"},
		{req{sni: "enforce.example.com", host: "enforce.example.com", cert: p.untrusted}, 403, "", ""},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*40)
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				c := cases[(g+i)%len(cases)]
				resp, err := e.client.Check(context.Background(), envoyRequest(c.r))
				if err != nil {
					errs <- err.Error()
					return
				}
				if c.status != 0 {
					if got := int32(resp.GetDeniedResponse().GetStatus().GetCode()); got != c.status {
						errs <- fmt.Sprintf("case %d: status %d, want %d", (g+i)%len(cases), got, c.status)
					}
					continue
				}
				set := map[string]string{}
				for _, h := range resp.GetOkResponse().GetHeaders() {
					set[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
				}
				if set["x-client-cert-fingerprint-sha256"] != c.fp || set["x-client-cert-verify"] != c.ver {
					errs <- fmt.Sprintf("case %d: headers %v", (g+i)%len(cases), set)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}

// TestWireAnswersMatchTyped: the pre-encoded answers the gRPC server sends
// decode to exactly what Check returns, for shared (verified, no
// certificate, denied) and per-request (unverified in permissive) answers.
func TestWireAnswersMatchTyped(t *testing.T) {
	e := standardEnv(t)
	p := e.pki
	for _, r := range []req{
		{sni: "enforce.example.com", host: "enforce.example.com", cert: p.good},
		{sni: "pinned.example.com", host: "pinned.example.com", cert: p.good},
		{sni: "permissive.example.com", host: "permissive.example.com"},
		{sni: "permissive.example.com", host: "permissive.example.com", cert: p.untrusted},
		{sni: "disabled.example.com", host: "disabled.example.com", cert: p.good},
		{sni: "nginx.example.com", host: "nginx.example.com", cert: p.untrusted},
		{sni: "enforce.example.com", host: "enforce.example.com", cert: p.expired},
	} {
		for range 2 { // the first builds a shared answer, the second reuses it
			typed, err := e.svc.Check(context.Background(), envoyRequest(r))
			if err != nil {
				t.Fatal(err)
			}
			if wire := e.check(r); !proto.Equal(wire, typed) {
				t.Errorf("%s: gRPC answer %v\nCheck answer %v", r.sni, wire, typed)
			}
		}
	}
}

// TestFinding5_RenamedHeadersOwned: after headers.verify=x-tls-verify and
// headers.subject="", every allowed answer still removes the client's
// x-client-cert-verify and x-client-cert-subject (and sets neither), in
// every mode, with and without a certificate, over real gRPC.
func TestFinding5_RenamedHeadersOwned(t *testing.T) {
	e := newEnv(t, authz.Options{DecisionLog: authz.LogOff})
	p := e.pki
	ca := e.ca("ecdsa", p.root, p.inter)
	for _, m := range []pb.Mode{enforce, permissive, disabled} {
		e.site(strings.ToLower(m.String()[5:])+".example.com", &pb.ClientCertSettings{Mode: m, Headers: renamedHeaders}, ca)
	}
	e.waitLoaded()
	smuggled := map[string]string{"x-client-cert-verify": "SUCCESS", "x-client-cert-subject": "CN=admin", "x-tls-verify": "SUCCESS"}
	for _, tc := range []struct {
		host   string
		cert   *testpki.Cert
		verify string // x-tls-verify set by mtlsgate; "" none
	}{
		{"enforce.example.com", p.good, "SUCCESS"},
		{"permissive.example.com", p.good, "SUCCESS"},
		{"permissive.example.com", p.untrusted, "FAILED:untrusted"},
		{"permissive.example.com", nil, "NONE"},
		{"disabled.example.com", p.good, ""},
		{"disabled.example.com", nil, ""},
	} {
		t.Run(tc.host+"/"+tc.verify, func(t *testing.T) {
			resp := e.check(req{ext: tc.host, sni: tc.host, host: tc.host, cert: tc.cert, headers: smuggled})
			ok := resp.GetOkResponse()
			if ok == nil {
				t.Fatalf("denied: %v", resp.GetDeniedResponse())
			}
			set := setHeaders(t, ok)
			for _, n := range []string{"x-client-cert-verify", "x-client-cert-subject"} {
				if _, isSet := set[n]; isSet || !slices.Contains(ok.GetHeadersToRemove(), n) {
					t.Errorf("%s: set %v, removed %v", n, isSet, ok.GetHeadersToRemove())
				}
			}
			if got := set["x-tls-verify"]; got != tc.verify {
				t.Errorf("x-tls-verify = %q, want %q", got, tc.verify)
			}
			if _, isSet := set["x-tls-verify"]; !isSet && !slices.Contains(ok.GetHeadersToRemove(), "x-tls-verify") {
				t.Error("x-tls-verify neither set nor removed")
			}
		})
	}
}

// TestFinding6_PlainHTTPHasNoCertificate: a request the plain HTTP
// listener sends through the check (context extension listener=http) is
// one without TLS: whatever certificate or SNI it claims, an enforcing
// site refuses it and a permissive one allows it with verify NONE.
func TestFinding6_PlainHTTPHasNoCertificate(t *testing.T) {
	e := standardEnv(t)
	p := e.pki
	plain := func(host string, c *testpki.Cert) *authv3.CheckResponse {
		cr := envoyRequest(req{ext: host, sni: host, host: host, cert: c})
		cr.Attributes.ContextExtensions[contract.ListenerExtension] = contract.ListenerHTTP
		resp, err := e.client.Check(context.Background(), cr)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	assertResponse(t, plain("enforce.example.com", p.good), want{status: 403, reason: "no_certificate"})
	assertResponse(t, plain("nginx.example.com", p.good), want{status: 496, reason: "no_certificate"})
	assertResponse(t, plain("permissive.example.com", p.good), want{allow: true, verify: "NONE"})
	assertResponse(t, plain("permissive.example.com", nil), want{allow: true, verify: "NONE"})
	assertResponse(t, plain("rules.example.com", p.good), want{allow: true, verify: "NONE"})
	assertResponse(t, plain("disabled.example.com", p.good), want{allow: true})
}
