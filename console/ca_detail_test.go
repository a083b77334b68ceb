package console_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/console"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
)

// consoleClient is a signed-in console session of a token on a running
// server, driven with plain HTTP requests (no browser).
type consoleClient struct {
	t    *testing.T
	r    *running
	http *http.Client
	ring *seal.Keyring
}

// signInHTTP signs in to r's console with token.
func signInHTTP(t *testing.T, r *running, token string) *consoleClient {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(r.data, "ca.pem")))) {
		t.Fatal("no internal CA certificate")
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(hc.CloseIdleConnections)
	ring, err := seal.LoadFile(filepath.Join(r.data, "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	c := &consoleClient{t: t, r: r, http: hc, ring: ring}
	if code, _, loc := c.send("POST", "/ui/signin", url.Values{"token": {token}}); code != http.StatusSeeOther || loc != "/ui/cas" {
		t.Fatalf("sign-in: %d %s", code, loc)
	}
	return c
}

// send makes one request from the console's origin; it returns the
// status, the body and the redirect target.
func (c *consoleClient) send(method, path string, form url.Values) (int, string, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.r.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Origin", c.r.base)
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// get is a GET of path: its status and body.
func (c *consoleClient) get(path string) (int, string) {
	c.t.Helper()
	code, body, _ := c.send("GET", path, nil)
	return code, body
}

// csrf is the session's CSRF token of the form posting to action.
func (c *consoleClient) csrf(action string) string {
	c.t.Helper()
	u, _ := url.Parse(c.r.base + "/ui/")
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == console.CookieName {
			tok, err := console.CSRFTokenOf(c.ring, ck.Value, action)
			if err != nil {
				c.t.Fatal(err)
			}
			return tok
		}
	}
	c.t.Fatal("no session cookie")
	return ""
}

// post posts kv to path with the CSRF token of action.
func (c *consoleClient) post(path, action string, kv ...string) (int, string, string) {
	c.t.Helper()
	form := url.Values{"csrf": {c.csrf(action)}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	return c.send("POST", path, form)
}

// caFixture is a client CA "partner" of two certificates, a root and an
// intermediate it issued, assigned to sites; only the intermediate has a
// CRL (number 7, one entry).
type caFixture struct {
	id, path     string
	root, issuer *testpki.Cert
}

// newCAFixture uploads the fixture's CA to r's store, assigned to sites
// (which must exist), with the intermediate's CRL.
func newCAFixture(t *testing.T, r *running, sites ...string) caFixture {
	t.Helper()
	root := testpki.NewRoot(t, "Partner Root CA", testpki.Options{})
	issuer := root.Intermediate(t, "Partner Issuing CA", testpki.Options{NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	ctx, actor := context.Background(), store.Actor{Action: "test"}
	ca, err := r.srv.Store().AddCA(ctx, actor, store.NewCA{Name: "partner", Bundle: testpki.Bundle(root, issuer), Sites: sites})
	if err != nil {
		t.Fatal(err)
	}
	crl := issuer.CRL(t, 7, time.Now().Add(-time.Minute), time.Now().Add(7*24*time.Hour), big.NewInt(42))
	if _, err := r.srv.Store().CreateCRL(ctx, actor, crl); err != nil {
		t.Fatal(err)
	}
	return caFixture{id: ca.GetId(), path: "/ui/cas/" + ca.GetId(), root: root, issuer: issuer}
}

// tokenOf makes a token of role (scoped to sites) in r's store.
func tokenOf(t *testing.T, r *running, role pb.Role, sites ...string) string {
	t.Helper()
	_, secret, err := r.srv.Store().CreateToken(context.Background(), store.Actor{Action: "test"}, "t-"+role.String(), role, sites)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// section is the part of page from the element with id to the end of its
// section (or of the page).
func section(page, id string) string {
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	rest := page[i:]
	if j := strings.Index(rest, "</section>"); j >= 0 {
		return rest[:j]
	}
	return rest
}

// TestCADeleteRefusedWhileAssigned: deleting an assigned CA without force
// shows the API's reason on the confirmation page and deletes nothing.
func TestCADeleteRefusedWhileAssigned(t *testing.T) {
	r := startServer(t)
	createSite(t, r, "app.example.com", 90*24*time.Hour)
	f := newCAFixture(t, r, "app.example.com")
	c := signInHTTP(t, r, r.admin)
	code, page := c.get(f.path + "/delete")
	for _, want := range []string{`href="/ui/sites/app.example.com"`, `id="force"`, "force: unassign it from every site first"} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("confirmation page (%d) lacks %q", code, want)
		}
	}
	code, page, _ = c.post(f.path+"/delete", f.path+"/delete")
	reason := "client CA " + f.id + " is assigned to app.example.com; unassign it first or force the delete"
	if code != http.StatusConflict || !strings.Contains(page, `id="delete-reason">The API refused: `+reason) {
		t.Errorf("delete without force: %d\n%s", code, page)
	}
	st := r.srv.Store().Current()
	if st.CA(f.id) == nil || len(st.Site("app.example.com").GetCaIds()) != 1 || len(st.CRLs()) != 1 {
		t.Error("a refused delete changed the store")
	}
}

// TestCADeleteForced: a forced delete unassigns the CA from its sites and
// deletes it (and its CRL); the list says so.
func TestCADeleteForced(t *testing.T) {
	r := startServer(t)
	createSite(t, r, "app.example.com", 90*24*time.Hour)
	f := newCAFixture(t, r, "app.example.com")
	c := signInHTTP(t, r, r.admin)
	code, _, loc := c.post(f.path+"/delete", f.path+"/delete", "force", "true")
	if code != http.StatusSeeOther || loc != "/ui/cas?deleted=partner" {
		t.Fatalf("forced delete: %d %s", code, loc)
	}
	st := r.srv.Store().Current()
	if st.CA(f.id) != nil || len(st.Site("app.example.com").GetCaIds()) != 0 || len(st.CRLs()) != 0 {
		t.Errorf("after a forced delete: CA %v, site CAs %v, %d CRLs", st.CA(f.id), st.Site("app.example.com").GetCaIds(), len(st.CRLs()))
	}
	if _, page := c.get(loc); !strings.Contains(page, `id="notice">Client CA partner is deleted.`) {
		t.Errorf("the list does not say the CA is deleted")
	}
}

// TestCAFormsNeedTheirOwnCSRF: each form of the CA page takes its own
// action's token only.
func TestCAFormsNeedTheirOwnCSRF(t *testing.T) {
	r := startServer(t)
	createSite(t, r, "app.example.com", 90*24*time.Hour)
	f := newCAFixture(t, r)
	c := signInHTTP(t, r, r.admin)
	for _, tc := range []struct{ path, action string }{
		{f.path + "/delete", f.path + "/assign"},
		{f.path + "/delete", "/ui/cas"},
		{f.path + "/delete", "/ui/cas/other/delete"},
		{f.path + "/assign", f.path + "/unassign"},
		{f.path + "/edit", f.path + "/delete"},
	} {
		code, _, _ := c.post(tc.path, tc.action, "force", "true", "site", "app.example.com", "name", "renamed")
		if code != http.StatusForbidden {
			t.Errorf("POST %s with the token of %s: %d", tc.path, tc.action, code)
		}
	}
	st := r.srv.Store().Current()
	if ca := st.CA(f.id); ca == nil || ca.GetName() != "partner" || len(st.Site("app.example.com").GetCaIds()) != 0 {
		t.Error("a post with another form's token changed the store")
	}
	if code, _, _ := c.post(f.path+"/assign", f.path+"/assign", "site", "app.example.com"); code != http.StatusSeeOther {
		t.Errorf("assign with its own token: %d", code)
	}
}

// TestCAViewerGetsNoControls: a viewer reads the page without any form;
// forged posts with valid CSRF tokens get the API's permission refusal.
func TestCAViewerGetsNoControls(t *testing.T) {
	r := startServer(t)
	createSite(t, r, "app.example.com", 90*24*time.Hour)
	f := newCAFixture(t, r, "app.example.com")
	c := signInHTTP(t, r, tokenOf(t, r, pb.Role_ROLE_VIEWER))
	_, page := c.get(f.path)
	for _, ctl := range []string{"<form id=", `action="` + f.path, "delete-link", "Unassign"} {
		if strings.Contains(strings.SplitN(page, "</header>", 2)[1], ctl) {
			t.Errorf("a viewer's CA page offers %q", ctl)
		}
	}
	if _, page := c.get(f.path + "/delete"); !strings.Contains(page, "delete-readonly") || strings.Contains(page, `id="ca-delete"`) {
		t.Error("a viewer's delete page offers the form")
	}
	for _, tc := range []struct{ path, want string }{
		{"/delete", `id="page-error">role viewer may not call DeleteClientCA`},
		{"/unassign", `id="assign-error" role="alert">role viewer may not call UnassignClientCA`},
		{"/edit", `id="page-error">role viewer may not call UpdateClientCA`},
	} {
		code, page, _ := c.post(f.path+tc.path, f.path+tc.path, "force", "true", "site", "app.example.com", "name", "mine", "base", "{}")
		if code != http.StatusForbidden || !strings.Contains(page, tc.want) {
			t.Errorf("forged %s: %d, want %s", tc.path, code, tc.want)
		}
	}
	if ca := r.srv.Store().Current().CA(f.id); ca == nil || ca.GetName() != "partner" || len(r.srv.Store().Current().Site("app.example.com").GetCaIds()) != 1 {
		t.Error("a viewer's forged post changed the store")
	}
}

// TestCASiteManagerAssigns: a site-manager is offered assignment to its
// own sites only, not the edit form or deletion; a forged assignment to
// another site is refused above the form.
func TestCASiteManagerAssigns(t *testing.T) {
	r := startServer(t)
	createSite(t, r, "app.example.com", 90*24*time.Hour)
	createSite(t, r, "other.example.com", 90*24*time.Hour)
	f := newCAFixture(t, r)
	c := signInHTTP(t, r, tokenOf(t, r, pb.Role_ROLE_SITE_MANAGER, "app.example.com"))
	_, page := c.get(f.path)
	if !strings.Contains(page, `<option value="app.example.com">`) || strings.Contains(page, "other.example.com") ||
		strings.Contains(page, `id="ca-edit"`) || strings.Contains(page, "delete-link") {
		t.Errorf("a site-manager's CA page:\n%s", section(page, "sites-heading"))
	}
	code, page, _ := c.post(f.path+"/assign", f.path+"/assign", "site", "other.example.com")
	if code != http.StatusForbidden || !strings.Contains(page, `id="assign-error" role="alert">role site-manager may not call AssignClientCA`) {
		t.Errorf("assign to another site: %d\n%s", code, section(page, "sites-heading"))
	}
	if code, _, _ := c.post(f.path+"/assign", f.path+"/assign", "site", "app.example.com"); code != http.StatusSeeOther {
		t.Errorf("assign to its site: %d", code)
	}
	if _, page := c.get(f.path); !strings.Contains(page, `aria-label="Unassign from app.example.com"`) {
		t.Error("the site-manager is not offered to unassign from its site")
	}
}

// TestCACRLStatusPerCertificate: of a root and an intermediate in one
// bundle, only the intermediate, the CRL's issuer, shows the CRL (number,
// entries, fresh, uploaded by); the root shows none. The fetcher's
// sources of this CA are listed, another CA's are not.
func TestCACRLStatusPerCertificate(t *testing.T) {
	r := startServer(t)
	f := newCAFixture(t, r)
	ctx := context.Background()
	for _, st := range []*pb.CRLFetchStatus{
		{Url: "http://crl.example.com/partner.crl", From: "ca " + f.id + " crl_urls", Result: "fetch_error", Error: "connection refused", Failures: 2},
		{Url: "http://crl.example.com/other.crl", From: "ca 0123456789abcdef crl_urls"},
	} {
		if err := r.srv.Store().PutCRLFetchStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	c := signInHTTP(t, r, r.admin)
	code, page := c.get(f.path)
	if code != http.StatusOK {
		t.Fatalf("CA page: %d", code)
	}
	root, inter := section(page, "cert-0"), section(page, "cert-1")
	if !strings.Contains(root, "CN=Partner Root CA,O=mtlsgate test <span class=\"help\">(certificate 1 of 2)") || !strings.Contains(root, "no CRL") || strings.Contains(root, "<p class=\"crl\">") {
		t.Errorf("root certificate:\n%s", root)
	}
	for _, want := range []string{"CN=Partner Issuing CA", "Issuer</dt><dd>CN=Partner Root CA", "number <code>7</code>", "1 entry", "fresh", "uploaded", "expires soon"} {
		if !strings.Contains(inter, want) {
			t.Errorf("intermediate lacks %q:\n%s", want, inter)
		}
	}
	if strings.Contains(inter, "no CRL") {
		t.Error("the intermediate says no CRL")
	}
	src := section(page, "sources-heading")
	if !strings.Contains(src, "partner.crl") || !strings.Contains(src, "connection refused") || strings.Contains(src, "other.crl") {
		t.Errorf("sources:\n%s", src)
	}
}

// TestCAEditMask: saving the edit form names only the fields changed from
// what the form showed (a field changed meanwhile elsewhere keeps its
// value); a refused URL is shown next to its field, nothing saved.
func TestCAEditMask(t *testing.T) {
	r := startServer(t)
	f := newCAFixture(t, r)
	c := signInHTTP(t, r, r.admin)
	_, page := c.get(f.path)
	base := html.UnescapeString(regexp.MustCompile(`name="base" value="([^"]*)"`).FindStringSubmatch(page)[1])
	// Someone else sets the OCSP URL meanwhile.
	if _, err := r.srv.Store().UpdateCA(context.Background(), store.Actor{Action: "test"}, f.id,
		&pb.ClientCA{OcspUrl: "http://ocsp.example.com"}, []string{"ocsp_url"}); err != nil {
		t.Fatal(err)
	}
	code, _, loc := c.post(f.path+"/edit", f.path+"/edit", "base", base, "name", "partner-2", "crl_urls", "", "ocsp_url", "")
	if code != http.StatusSeeOther || loc != f.path+"?saved=name" {
		t.Fatalf("save: %d %s", code, loc)
	}
	if ca := r.srv.Store().Current().CA(f.id); ca.GetName() != "partner-2" || ca.GetOcspUrl() != "http://ocsp.example.com" {
		t.Errorf("stored: name %q, OCSP %q", ca.GetName(), ca.GetOcspUrl())
	}
	if _, page := c.get(loc); !strings.Contains(page, `id="notice">Saved: name.`) {
		t.Error("no saved notice")
	}
	_, page = c.get(f.path)
	base = html.UnescapeString(regexp.MustCompile(`name="base" value="([^"]*)"`).FindStringSubmatch(page)[1])
	code, page, _ = c.post(f.path+"/edit", f.path+"/edit", "base", base, "name", "partner-3", "crl_urls", "ftp://crl.example.com/x.crl",
		"ocsp_url", "http://ocsp.example.com")
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, `id="crl_urls-error">crl_urls: &#34;ftp://crl.example.com/x.crl&#34;: want an http:// or https:// URL`) ||
		!strings.Contains(page, `value="partner-3"`) {
		t.Errorf("refused URL: %d\n%s", code, section(page, "edit-heading"))
	}
	if ca := r.srv.Store().Current().CA(f.id); ca.GetName() != "partner-2" || len(ca.GetCrlUrls()) != 0 {
		t.Error("a refused save changed the CA")
	}
}
