package authz_test

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mtlsgate/mtlsgate/authz"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func refusalPage(status uint32, ctype, body string, reasons ...string) *pb.Refusal {
	return &pb.Refusal{Reasons: reasons, Answer: &pb.Refusal_Page{Page: &pb.RefusalPage{Status: status, ContentType: ctype, Body: body}}}
}

func refusalRedirect(url string, reasons ...string) *pb.Refusal {
	return &pb.Refusal{Reasons: reasons, Answer: &pb.Refusal_RedirectUrl{RedirectUrl: url}}
}

// refusalEnv has sites with refusals: kind (enforce, verify_at request: a
// page for none, a redirect for untrusted, a page with its own status for
// expired), strict (enforce at the handshake, same CAs, a page for every
// reason), nginx (496 for no certificate, a page for none and for the
// rest) and rules (permissive, a redirect when a rule refuses).
func refusalEnv(t *testing.T) *env {
	e := newEnv(t, authz.Options{DecisionLog: authz.LogAll})
	p := e.pki
	ecdsa := e.ca("ecdsa", p.root, p.inter)
	request := pb.VerifyAt_VERIFY_AT_REQUEST
	e.site("kind.example.com", &pb.ClientCertSettings{Mode: enforce, VerifyAt: request, Refusals: []*pb.Refusal{
		refusalPage(0, "text/html", "<h1>No certificate</h1><p>reason: {reason}</p>", "none"),
		refusalRedirect("https://enroll.example.com/start?why={reason}&again={reason}", "untrusted"),
		refusalPage(451, "", "gone: {reason}", "expired"),
	}}, ecdsa)
	e.site("strict.example.com", &pb.ClientCertSettings{Mode: enforce, Refusals: []*pb.Refusal{
		refusalPage(0, "text/plain", "strict refuses: {reason}", "*"),
	}}, ecdsa)
	e.site("nginx.example.com", &pb.ClientCertSettings{Mode: enforce, VerifyAt: request, MissingCertificateStatus: 496, Refusals: []*pb.Refusal{
		refusalPage(0, "", "certificate required", "none"),
		refusalPage(0, "text/html", "<p>{reason}</p>", "*"),
	}}, ecdsa)
	e.site("rules.example.com", &pb.ClientCertSettings{Mode: permissive, AccessRules: []*pb.AccessRule{
		{PathPrefix: "/admin", Subjects: []string{"CN=nobody"}},
	}, Refusals: []*pb.Refusal{refusalRedirect("http://help.example.com/{reason}", "not_allowed")}}, ecdsa)
	e.waitLoaded()
	return e
}

// refused is what a refusal's answer must be exactly.
type refused struct {
	status   uint32
	ctype    string // content-type header
	body     string
	location string
}

// TestRefusals: a refused request gets the page or redirect of the
// refusal naming its reason, or "*"; other reasons, requests for no site
// and SNI mismatches get the default denial; allowed requests are not
// touched.
func TestRefusals(t *testing.T) {
	e := refusalEnv(t)
	p := e.pki
	for _, tc := range []struct {
		name string
		r    req
		want refused
		def  *want // the default denial instead
	}{
		{"no certificate: html page, the site's status", req{ext: "kind.example.com", sni: "kind.example.com", host: "kind.example.com"},
			refused{status: 403, ctype: "text/html; charset=utf-8", body: "<h1>No certificate</h1><p>reason: no_certificate</p>"}, nil},
		{"untrusted: redirect", req{ext: "kind.example.com", sni: "kind.example.com", host: "kind.example.com", cert: p.untrusted},
			refused{status: 302, location: "https://enroll.example.com/start?why=untrusted&again=untrusted"}, nil},
		{"expired: its own status, text/plain by default", req{ext: "kind.example.com", sni: "kind.example.com", host: "kind.example.com", cert: p.expired},
			refused{status: 451, ctype: "text/plain; charset=utf-8", body: "gone: expired"}, nil},
		{"a reason no refusal names: the default", req{ext: "kind.example.com", sni: "kind.example.com", host: "kind.example.com", cert: p.noEKU},
			refused{}, &want{status: 403, reason: "missing_client_auth_eku"}},
		{"496 for none", req{ext: "nginx.example.com", sni: "nginx.example.com", host: "nginx.example.com"},
			refused{status: 496, ctype: "text/plain; charset=utf-8", body: "certificate required"}, nil},
		{"* for the rest", req{ext: "nginx.example.com", sni: "nginx.example.com", host: "nginx.example.com", cert: p.notYet},
			refused{status: 403, ctype: "text/html; charset=utf-8", body: "<p>not_yet_valid</p>"}, nil},
		{"a rule's refusal", req{ext: "rules.example.com", sni: "rules.example.com", host: "rules.example.com", path: "/admin/x", cert: p.good},
			refused{status: 302, location: "http://help.example.com/not_allowed"}, nil},
		{"unknown site: no site's refusal", req{ext: "nothing.example.com", sni: "kind.example.com", host: "nothing.example.com"},
			refused{}, &want{status: 403, reason: "unknown_site"}},
		// The SNI-vs-Host check: a connection made for a site verifying at
		// the request never reaches a site verifying at the handshake; the
		// 421 (which makes a browser retry on a connection of its own) is
		// never replaced by a refusal.
		{"SNI request site, Host handshake site (Envoy's route: the SNI's site)", req{ext: "kind.example.com", sni: "kind.example.com", host: "strict.example.com"},
			refused{}, &want{status: 421, reason: "sni_mismatch"}},
		{"SNI request site, Host handshake site", req{ext: "strict.example.com", sni: "kind.example.com", host: "strict.example.com", cert: p.good},
			refused{}, &want{status: 421, reason: "sni_mismatch"}},
		{"SNI request site, Host handshake site, no route", req{sni: "kind.example.com", host: "strict.example.com"},
			refused{}, &want{status: 421, reason: "sni_mismatch"}},
		{"SNI permissive, Host request site", req{ext: "kind.example.com", sni: "rules.example.com", host: "kind.example.com"},
			refused{}, &want{status: 421, reason: "sni_mismatch"}},
		// The reverse is no weakening, and the request is checked in full
		// against its own site, whose refusals answer.
		{"SNI handshake site, Host request site (Envoy's route: the SNI's site)", req{ext: "strict.example.com", sni: "strict.example.com", host: "kind.example.com", cert: p.untrusted},
			refused{status: 403, ctype: "text/plain; charset=utf-8", body: "strict refuses: untrusted"}, nil},
		{"SNI handshake site, Host request site, untrusted", req{ext: "kind.example.com", sni: "strict.example.com", host: "kind.example.com", cert: p.untrusted},
			refused{status: 302, location: "https://enroll.example.com/start?why=untrusted&again=untrusted"}, nil},
		{"SNI handshake site, Host request site, none", req{ext: "kind.example.com", sni: "strict.example.com", host: "kind.example.com"},
			refused{status: 403, ctype: "text/html; charset=utf-8", body: "<h1>No certificate</h1><p>reason: no_certificate</p>"}, nil},
		{"handshake site's own refusal", req{ext: "strict.example.com", sni: "strict.example.com", host: "strict.example.com", cert: p.expired},
			refused{status: 403, ctype: "text/plain; charset=utf-8", body: "strict refuses: expired"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // built once, then shared: the same both times
				resp := e.check(tc.r)
				if tc.def != nil {
					assertResponse(t, resp, *tc.def)
					continue
				}
				assertRefused(t, resp, tc.want)
			}
		})
	}
	for _, host := range []string{"kind.example.com", "strict.example.com"} {
		assertResponse(t, e.check(req{ext: host, sni: host, host: host, cert: p.good}), want{allow: true, verify: "SUCCESS"})
	}
}

// assertRefused checks a denial is exactly w.
func assertRefused(t *testing.T, resp *authv3.CheckResponse, w refused) {
	t.Helper()
	d := resp.GetDeniedResponse()
	if resp.GetStatus().GetCode() != 7 || d == nil {
		t.Fatalf("want a denial, got %v", resp)
	}
	if got := uint32(d.GetStatus().GetCode()); got != w.status || d.GetBody() != w.body {
		t.Fatalf("denial %d %q, want %d %q", got, d.GetBody(), w.status, w.body)
	}
	hdrs := setHeadersOf(t, d.GetHeaders())
	want := map[string]string{"cache-control": "no-store"}
	if w.location != "" {
		want["location"] = w.location
	} else {
		want["content-type"] = w.ctype
	}
	if len(hdrs) != len(want) {
		t.Fatalf("headers %v, want %v", hdrs, want)
	}
	for k, v := range want {
		if hdrs[k] != v {
			t.Fatalf("%s = %q, want %q (all: %v)", k, hdrs[k], v, hdrs)
		}
	}
}

func setHeadersOf(t *testing.T, hs []*corev3.HeaderValueOption) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range hs {
		if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Fatalf("header %s has append action %v", h.GetHeader().GetKey(), h.GetAppendAction())
		}
		out[strings.ToLower(h.GetHeader().GetKey())] = h.GetHeader().GetValue()
	}
	return out
}

// kindSettings are standardEnv's enforce.kind.example.com: enforce at the
// request, a page for no certificate, a redirect for every other reason.
var kindSettings = &pb.ClientCertSettings{Mode: enforce, VerifyAt: pb.VerifyAt_VERIFY_AT_REQUEST, Refusals: []*pb.Refusal{
	refusalPage(0, "text/html", "<p>{reason}</p>", "none"),
	refusalRedirect("https://enroll.example.com/why/{reason}", "*"),
}}

// checkRefusal is FuzzCheck's invariant of denials: a redirect is a 302
// to enforce.kind.example.com's URL with a reason word in it, and a 421
// is never a refusal; nothing of the request reaches a refusal.
func checkRefusal(t *testing.T, d *authv3.DeniedHttpResponse) {
	loc := ""
	for _, h := range d.GetHeaders() {
		if h.GetHeader().GetKey() == "location" {
			loc = h.GetHeader().GetValue()
		}
	}
	code := d.GetStatus().GetCode()
	if (loc != "") != (code == 302) {
		t.Fatalf("status %d with location %q", code, loc)
	}
	if word, ok := strings.CutPrefix(loc, "https://enroll.example.com/why/"); loc != "" && (!ok || strings.Trim(word, "abcdefghijklmnopqrstuvwxyz_") != "") {
		t.Fatalf("redirect to %q", loc)
	}
	if code == 421 && !strings.Contains(d.GetBody(), "(sni_mismatch)") {
		t.Fatalf("a 421 answered with %q", d.GetBody())
	}
	if strings.HasPrefix(d.GetBody(), "<p>") && d.GetBody() != "<p>no_certificate</p>" {
		t.Fatalf("page %q", d.GetBody())
	}
}
