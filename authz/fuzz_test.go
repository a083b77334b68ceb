package authz_test

import (
	"context"
	"maps"
	"net/url"
	pathpkg "path"
	"slices"
	"strings"
	"sync"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/authz/xfcc"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/originhdr"
	"github.com/mtlsgate/mtlsgate/store"
)

var (
	fuzzOnce sync.Once
	fuzzSvc  *authz.Service
	fuzzEnv  *env
)

// FuzzCheck throws attacker-controlled request fields at a full policy
// and checks the invariants that make mtlsgate safe to put in front of an
// origin, whatever the input:
//   - nothing panics (a recovered panic would show as a 500);
//   - an allowed request owns every origin header: each is set or
//     removed, none both, so a client value never reaches the origin;
//     this holds for the default names of headers a site renamed or
//     turned off too (renamed.example.com), and for the opt-in fields'
//     names (optin.example.com);
//   - an enforcing site allows only SUCCESS;
//   - on rules.example.com, a request allowed without SUCCESS has a path
//     that no reading puts under a rule (/admin, /ops: checked on the
//     strict reading, ignoring case);
//   - the verify header is one of its documented forms;
//   - the same bytes in x-forwarded-client-cert never pass an enforcing
//     site that reads XFCC (enforce.xfcc.example.com) unverified, and
//     the header never reaches an origin.
func FuzzCheck(f *testing.F) {
	for _, s := range [][5]string{
		{"enforce.example.com", "enforce.example.com", "/", "", ""},
		{"permissive.example.com", "permissive.example.com", "/a?b", "x", ""},
		{"disabled.example.com", "enforce.example.com:443", "/", "", ""},
		{"rules.example.com", "rules.example.com", "/%2e%2e/admin", "", "rules.example.com"},
		{"a.wild.example.com", "A.WILD.example.com.", "//admin", "-----BEGIN%20CERTIFICATE-----", ""},
		{"renamed.example.com", "renamed.example.com", "/", "good", "renamed.example.com"},
		{"optin.example.com", "optin.example.com", "/", "good", "optin.example.com"},
		{"enforce.xfcc.example.com", "enforce.xfcc.example.com", "/", "good", ""},
		{"enforce.xfcc.example.com", "", "/", `Hash=` + strings.Repeat("0", 64) + `;Cert="%2D"`, ""},
		{"enforce.kind.example.com", "enforce.kind.example.com", "/", "", "enforce.kind.example.com"},
		{"enforce.kind.example.com", "enforce.example.com", "/{reason}", "good", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(func(t *testing.T, sni, host, path, cert, ext string) {
		fuzzOnce.Do(func() {
			fuzzEnv = standardEnv(t)
			fuzzSvc = authz.New(authz.Options{DecisionLog: authz.LogOff})
			fuzzSvc.Load(model.Compile(fuzzEnv.st.Current(), nil))
		})
		xfccValue := cert // the same bytes in XFCC, which only XFCC sites read
		if cert == "good" {
			cert = extract.EncodeNew(fuzzEnv.pki.good.PEM())
			xfccValue = xfcc.Format([]xfcc.Element{element(fuzzEnv.pki.good, true, fuzzEnv.pki.inter)})
		}
		r := req{sni: sni, host: host, path: path, raw: cert, ext: ext, headers: map[string]string{originhdr.XFCC: xfccValue}}
		cr := envoyRequest(r)
		cr.Attributes.Request.Http.Headers["x-client-cert-verify"] = "SUCCESS"
		cr.Attributes.Request.Http.Headers["x-tls-verify"] = "SUCCESS"
		resp, err := fuzzSvc.Check(context.Background(), cr)
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, cr, resp)
	})
}

func checkInvariants(t *testing.T, cr *authv3.CheckRequest, resp *authv3.CheckResponse) {
	if d := resp.GetDeniedResponse(); d != nil {
		if d.GetStatus().GetCode() == 500 {
			t.Fatalf("internal error (a recovered panic?) for %v", cr.GetAttributes())
		}
		checkRefusal(t, d) // refusal_test.go
		return
	}
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatal("neither allowed nor denied")
	}
	set := map[string]string{}
	for _, h := range ok.GetHeaders() {
		set[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	site := cr.GetAttributes().GetContextExtensions()["site"]
	if site == "" {
		site = extract.Host(cr.GetAttributes().GetTlsSession().GetSni())
	}
	owned, verifyName := append(slices.Collect(maps.Values(store.DefaultHeaders)), originhdr.XFCC), "x-client-cert-verify"
	if strings.HasPrefix(site, "renamed.") {
		owned, verifyName = append(owned, "x-tls-verify"), "x-tls-verify"
		if _, isSet := set["x-client-cert-verify"]; isSet {
			t.Fatal("the default verify name is set on a site that renamed it")
		}
	}
	if strings.HasPrefix(site, "optin.") { // the opt-in fields' names (issue 15)
		owned = append(owned, slices.Collect(maps.Values(optInHeaders))...)
	}
	for _, n := range owned {
		_, isSet := set[n]
		removed := slices.Contains(ok.GetHeadersToRemove(), n)
		if isSet == removed {
			t.Fatalf("header %s set=%v removed=%v", n, isSet, removed)
		}
	}
	v := set[verifyName]
	if v != "" && v != "SUCCESS" && v != "NONE" && !strings.HasPrefix(v, "FAILED:") {
		t.Fatalf("verify header %q", v)
	}
	if strings.HasPrefix(site, "enforce.") && v != "SUCCESS" {
		t.Fatalf("enforcing site allowed with verify %q", v)
	}
	if strings.HasPrefix(site, "rules.") && v != "SUCCESS" && underRule(cr.GetAttributes().GetRequest().GetHttp().GetPath()) {
		t.Fatalf("path %q under a rule allowed with verify %q", cr.GetAttributes().GetRequest().GetHttp().GetPath(), v)
	}
}

// underRule reports whether the strict reading of a request path is
// covered by rules.example.com's rules, ignoring case; an unreadable path
// counts as covered.
func underRule(raw string) bool {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	dec, err := url.PathUnescape(raw)
	if err != nil {
		return true
	}
	p := strings.ToLower(pathpkg.Clean("/" + dec))
	for _, prefix := range []string{"/admin", "/ops"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return true
		}
	}
	return false
}
