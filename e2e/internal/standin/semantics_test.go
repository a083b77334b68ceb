package standin

import (
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/a/./b/../c", "/a/c"},
		{"/a//b///c", "/a/b/c"},
		{"/a%2Fb%2fc", "/a/b/c"},
		{"/a%5Cb\\c", "/a/b/c"},
		{"/%61dmin", "/admin"},
		{"/public/%2e%2E/admin", "/admin"},
		{"/public/..%2Fadmin", "/admin"},
		{"/a/b/..", "/a/"},
		{"/a/.", "/a/"},
		{"/..", "/"},
		{"/../../x", "/x"},
		{"/x?y=/../z//w", "/x?y=/../z//w"},
		{"/a%20b%zz", "/a%20b%zz"},
		{"/a%3fb", "/a%3Fb"},
	} {
		got, ok := normalizePath(tc.in)
		if !ok || got != tc.want {
			t.Errorf("normalizePath(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"/a#frag", "*", "http://x/"} {
		if _, ok := normalizePath(bad); ok {
			t.Errorf("normalizePath(%q) should be a 400", bad)
		}
	}
}

func TestSNIMatch(t *testing.T) {
	chains := map[string]*chainRT{}
	act := &activeListener{exact: map[string]*chainRT{}, wild: map[string]*chainRT{}}
	for _, names := range [][]string{{"app.example.com"}, {"*.example.com"}, {"*.b.example.com", "other.example.net"}} {
		rt := &chainRT{cfg: &chainCfg{serverNames: names}}
		chains[names[0]] = rt
		act.index(rt)
	}
	for sni, want := range map[string]string{
		"app.example.com": "app.example.com", "APP.example.COM": "app.example.com",
		"x.example.com": "*.example.com", "a.x.example.com": "*.example.com",
		"a.b.example.com": "*.b.example.com", "b.example.com": "*.example.com",
		"other.example.net": "*.b.example.com",
		"example.com":       "", "": "", "app.example.com.evil": "",
	} {
		if got := act.match(sni); got != chains[want] {
			t.Errorf("match(%q) = %v, want the chain of %q", sni, got, want)
		}
	}
	fallback := &chainRT{cfg: &chainCfg{}}
	act.index(fallback)
	if act.match("nothing.example.org") != fallback || act.match("") != fallback {
		t.Error("a chain without server names should catch the rest")
	}
}

func TestVirtualHosts(t *testing.T) {
	vh := func(name string, domains ...string) *routev3.VirtualHost {
		return &routev3.VirtualHost{Name: name, Domains: domains, Routes: []*routev3.Route{{
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: name}}},
		}}}
	}
	rc, err := compileRoute(&routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{
		vh("exact", "api.example.com"), vh("short", "*.com"), vh("long", "*.example.com"), vh("any", "*"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{
		"api.example.com": "exact", "API.Example.com": "exact", "x.api.example.com": "long",
		"www.example.com": "long", "foo.com": "short", "example.org": "any", ".example.com": "short",
	} {
		if got := rc.vhost(host); got == nil || got.name != want {
			t.Errorf("vhost(%q) = %v, want %s", host, got, want)
		}
	}
	for _, bad := range [][]*routev3.VirtualHost{
		{vh("a", "x.example.com"), vh("b", "X.example.com")},
		{vh("prefix", "www.*")},
	} {
		if _, err := compileRoute(&routev3.RouteConfiguration{Name: "bad", VirtualHosts: bad}); err == nil {
			t.Errorf("%v should be rejected", bad)
		}
	}
}

func TestURLEncodeCert(t *testing.T) {
	leaf := testpki.NewRoot(t, "R", testpki.Options{}).Leaf(t, "c", testpki.Options{})
	if got, want := urlEncodeCert(leaf.PEM()), extract.EncodeNew(leaf.PEM()); got != want {
		t.Errorf("urlEncodeCert = %q, want newer Envoy's %q", got, want)
	}
}

func TestDNSMatch(t *testing.T) {
	for _, tc := range []struct {
		san, name string
		want      bool
	}{
		{"origin.example.net", "origin.example.net", true},
		{"Origin.Example.net", "origin.example.NET", true},
		{"*.example.net", "origin.example.net", true},
		{"*.example.net", "a.origin.example.net", false},
		{"*.example.net", "example.net", false},
		{"other.example.net", "origin.example.net", false},
	} {
		if got := dnsMatch(tc.san, tc.name); got != tc.want {
			t.Errorf("dnsMatch(%q, %q) = %v", tc.san, tc.name, got)
		}
	}
}

// crlPKI is a client hierarchy with CRLs.
type crlPKI struct {
	root, inter, good, revoked, other *testpki.Cert
	now                               time.Time
}

func newCRLPKI(t *testing.T) *crlPKI {
	p := &crlPKI{root: testpki.NewRoot(t, "Root", testpki.Options{}), now: time.Now()}
	p.inter = p.root.Intermediate(t, "Inter", testpki.Options{})
	p.good = p.inter.Leaf(t, "good", testpki.Options{})
	p.revoked = p.inter.Leaf(t, "revoked", testpki.Options{})
	p.other = testpki.NewRoot(t, "Other", testpki.Options{}).Leaf(t, "other", testpki.Options{})
	return p
}

func (p *crlPKI) crl(t *testing.T, issuer *testpki.Cert, next time.Duration, revoked ...*big.Int) string {
	der := issuer.CRL(t, 1, p.now.Add(-time.Hour), p.now.Add(next), revoked...)
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

// validation compiles a validation context secret.
func validation(t *testing.T, trusted []*testpki.Cert, crls string, leafOnly, untrusted bool) *validationCfg {
	t.Helper()
	vc := &tlsv3.CertificateValidationContext{TrustedCa: inline(string(testpki.Bundle(trusted...))), OnlyVerifyLeafCertCrl: leafOnly}
	if crls != "" {
		vc.Crl = inline(crls)
	}
	if untrusted {
		vc.TrustChainVerification = tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED
	}
	s, err := compileSecret(&tlsv3.Secret{Name: "vc", Type: &tlsv3.Secret_ValidationContext{ValidationContext: vc}})
	if err != nil {
		t.Fatal(err)
	}
	return s.vc
}

// TestClientCertVerification checks Envoy's rules: chain to trusted_ca
// (partial chains allowed), and once any CRL is given a current CRL for
// every certificate of the chain (or the leaf only).
func TestClientCertVerification(t *testing.T) {
	p := newCRLPKI(t)
	interCRL := p.crl(t, p.inter, time.Hour, p.revoked.Cert.SerialNumber)
	rootCRL := p.crl(t, p.root, time.Hour)
	both := interCRL + rootCRL
	for _, tc := range []struct {
		name      string
		vc        *validationCfg
		cert      *testpki.Cert
		wantError string // "" for success
	}{
		{"no CRL", validation(t, []*testpki.Cert{p.root}, "", false, false), p.good, ""},
		{"chain covered", validation(t, []*testpki.Cert{p.root}, both, false, false), p.good, ""},
		{"revoked", validation(t, []*testpki.Cert{p.root}, both, false, false), p.revoked, "revoked"},
		{"revoked leaf only", validation(t, []*testpki.Cert{p.root}, interCRL, true, false), p.revoked, "revoked"},
		{"CA without CRL", validation(t, []*testpki.Cert{p.root}, interCRL, false, false), p.good, "unable to get certificate CRL"},
		{"leaf only", validation(t, []*testpki.Cert{p.root}, interCRL, true, false), p.good, ""},
		{"leaf issuer without CRL", validation(t, []*testpki.Cert{p.root}, rootCRL, true, false), p.good, "unable to get certificate CRL"},
		{"expired CRL", validation(t, []*testpki.Cert{p.root}, p.crl(t, p.inter, -time.Minute)+rootCRL, false, false), p.good, "expired"},
		{"partial chain", validation(t, []*testpki.Cert{p.inter, p.root}, both, false, false), p.good, ""},
		{"intermediate anchor alone", validation(t, []*testpki.Cert{p.inter}, interCRL, false, false), p.good, "CRL issuer"},
		{"untrusted", validation(t, []*testpki.Cert{p.root}, "", false, false), p.other, "unknown authority"},
		{"accept untrusted", validation(t, []*testpki.Cert{p.root}, both, false, true), p.other, ""},
	} {
		raw := [][]byte{tc.cert.Cert.Raw, p.inter.Cert.Raw}
		err := tc.vc.verify(raw, p.now)
		if (tc.wantError == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantError)) {
			t.Errorf("%s: verify = %v, want %q", tc.name, err, tc.wantError)
		}
	}
}

func TestServerCertPrincipal(t *testing.T) {
	root := testpki.NewRoot(t, "Root", testpki.Options{})
	uri := root.Leaf(t, "u", testpki.Options{URIs: []string{"spiffe://x/y"}, DNS: []string{"d.example"}})
	dns := root.Leaf(t, "d", testpki.Options{DNS: []string{"d.example", "e.example"}})
	subj := root.Leaf(t, "s", testpki.Options{})
	for c, want := range map[*x509.Certificate]string{uri.Cert: "spiffe://x/y", dns.Cert: "d.example", subj.Cert: "CN=s,O=mtlsgate test"} {
		if got := principal(c); got != want {
			t.Errorf("principal = %q, want %q", got, want)
		}
	}
	if !slices.Equal(dns.Cert.DNSNames, []string{"d.example", "e.example"}) {
		t.Fatal("testpki changed")
	}
}
