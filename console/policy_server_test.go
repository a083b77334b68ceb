package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/console"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
)

// uiClient is a signed-in console session on a running server, driven
// over HTTPS without a browser.
type uiClient struct {
	t      *testing.T
	r      *running
	http   *http.Client
	cookie string
	ring   *seal.Keyring
}

// newUIClient signs token in (a session sealed with the server's keyring,
// as sign-in would).
func newUIClient(t *testing.T, r *running, token string) *uiClient {
	t.Helper()
	ring, err := seal.LoadFile(filepath.Join(r.data, "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := console.SealTestSession(ring, token, time.Now(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(r.data, "ca.pem"))))
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(c.CloseIdleConnections)
	return &uiClient{t: t, r: r, http: c, cookie: v, ring: ring}
}

// send sends a request to the console and returns the status and body
// (a redirect's Location for a 303).
func (u *uiClient) send(method, path, ctype string, body []byte) (int, string) {
	u.t.Helper()
	req, err := http.NewRequest(method, u.r.base+path, bytes.NewReader(body))
	if err != nil {
		u.t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: console.CookieName, Value: u.cookie})
	req.Header.Set("Origin", u.r.base)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := u.http.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusSeeOther {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(b)
}

// page is the site page of app.example.com.
func (u *uiClient) page() string {
	u.t.Helper()
	code, body := u.send("GET", "/ui/sites/app.example.com", "", nil)
	if code != http.StatusOK {
		u.t.Fatalf("site page: %d", code)
	}
	return body
}

// post posts form to the site's action with its CSRF token; a file, when
// named, goes as a multipart part of field "cert".
func (u *uiClient) post(action string, form url.Values, fileName string, file []byte) (int, string) {
	u.t.Helper()
	path := "/ui/sites/app.example.com/" + action
	tok, err := console.CSRFTokenOf(u.ring, u.cookie, path)
	if err != nil {
		u.t.Fatal(err)
	}
	form.Set("csrf", tok)
	if fileName == "" {
		return u.send("POST", path, "application/x-www-form-urlencoded", []byte(form.Encode()))
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k := range form {
		_ = mw.WriteField(k, form.Get(k))
	}
	fw, _ := mw.CreateFormFile("cert", fileName)
	_, _ = fw.Write(file)
	_ = mw.Close()
	return u.send("POST", path, mw.FormDataContentType(), buf.Bytes())
}

// baseOf is the hidden base of the form posting to action in page.
func baseOf(t *testing.T, page, action string) string {
	t.Helper()
	m := regexp.MustCompile(`action="/ui/sites/app.example.com/` + action + `"[^>]*>[\s\S]*?name="list_base" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s form in the page", action)
	}
	return m[1]
}

// fieldError is the error shown under the control id, unescaped.
func fieldError(page, id string) string {
	m := regexp.MustCompile(`id="` + id + `-error">([^<]*)<`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// settingsNow are app.example.com's settings in the store.
func settingsNow(r *running) *pb.ClientCertSettings {
	return r.srv.Store().Current().Site("app.example.com").GetSettings()
}

// TestPolicyPins: pins added by fingerprint (colons, upper case) and by
// certificate file; a bad fingerprint and a junk file are refused next
// to their fields with nothing saved; a stale base is refused; remove.
func TestPolicyPins(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	alice := testpki.NewRoot(t, "Pins CA", testpki.Options{}).Leaf(t, "alice", testpki.Options{})
	sum := sha256.Sum256(alice.Cert.Raw)
	fileFP := hex.EncodeToString(sum[:])
	typed := strings.ToUpper(strings.Repeat("ab:", 31) + "ab")
	page := u.page()
	oldBase := baseOf(t, page, "pins/add")
	if code, loc := u.post("pins/add", url.Values{"list_base": {oldBase}, "fingerprint": {" " + typed + " "}, "identity": {"alice"}}, "", nil); code != 303 || !strings.Contains(loc, "policy=pin-added") {
		t.Fatalf("add by fingerprint: %d %s", code, loc)
	}
	page = u.page()
	if code, loc := u.post("pins/add", url.Values{"list_base": {baseOf(t, page, "pins/add")}, "identity": {"alice"}}, "alice.pem", alice.PEM()); code != 303 {
		t.Fatalf("add by file: %d %s", code, loc)
	}
	want := []string{strings.Repeat("ab", 32) + "=alice", fileFP + "=alice"}
	if got := pinsOf(settingsNow(r)); !slices.Equal(got, want) {
		t.Fatalf("pins %v, want %v", got, want)
	}
	page = u.get("/ui/sites/app.example.com?policy=pin-added")
	if !strings.Contains(page, "Pin added.") || !strings.Contains(page, fileFP) || !strings.Contains(page, "2 pinned certificates") {
		t.Error("the page does not show the pins added")
	}
	base := baseOf(t, page, "pins/add")
	code, body := u.post("pins/add", url.Values{"list_base": {base}, "fingerprint": {"abc"}}, "", nil)
	if got := fieldError(body, "pin-fingerprint"); code != 422 || got != `pins[2]: sha256_fingerprint must be 64 hex digits, got "abc"` || !strings.Contains(body, `value="abc"`) {
		t.Errorf("bad fingerprint: %d, field error %q", code, got)
	}
	code, body = u.post("pins/add", url.Values{"list_base": {base}}, "junk.pem", []byte("not a certificate"))
	if got := fieldError(body, "pin-file"); code != 422 || !strings.Contains(got, "not a PEM or DER certificate") {
		t.Errorf("junk file: %d, field error %q", code, got)
	}
	code, body = u.post("pins/add", url.Values{"list_base": {oldBase}, "fingerprint": {strings.Repeat("cd", 32)}}, "", nil)
	if code != 409 || !strings.Contains(html.UnescapeString(body), "The pins changed since you loaded the page; nothing was saved") {
		t.Errorf("stale base: %d", code)
	}
	if got := pinsOf(settingsNow(r)); !slices.Equal(got, want) {
		t.Fatalf("refused changes were saved: %v", got)
	}
	if code, loc := u.post("pins/remove", url.Values{"list_base": {base}, "fingerprint": {strings.Repeat("ab", 32)}}, "", nil); code != 303 || !strings.Contains(loc, "pin-removed") {
		t.Fatalf("remove: %d %s", code, loc)
	}
	if got := pinsOf(settingsNow(r)); !slices.Equal(got, want[1:]) {
		t.Errorf("after remove: %v", got)
	}
}

// pinsOf is s's pins as FINGERPRINT=IDENTITY.
func pinsOf(s *pb.ClientCertSettings) []string {
	var out []string
	for _, p := range s.GetPins() {
		out = append(out, p.GetSha256Fingerprint()+"="+p.GetIdentity())
	}
	return out
}

// TestPolicyRules: a rule with two subjects and an identity is added,
// edited and removed; the API's refusal of a path prefix is shown next
// to the path prefix field with what was typed kept; a stale base is
// refused.
func TestPolicyRules(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	page := u.page()
	oldBase := baseOf(t, page, "rules/save")
	rule := url.Values{"list_base": {oldBase}, "path_prefix": {"/admin"}, "subjects": {"CN=alice,O=Example\r\n\r\nCN=bob,O=Example\r\n"},
		"identities": {"alice"}}
	if code, loc := u.post("rules/save", rule, "", nil); code != 303 || !strings.Contains(loc, "rule-saved") {
		t.Fatalf("add: %d %s", code, loc)
	}
	rules := settingsNow(r).GetAccessRules()
	if len(rules) != 1 || rules[0].GetPathPrefix() != "/admin" || !slices.Equal(rules[0].GetSubjects(), []string{"CN=alice,O=Example", "CN=bob,O=Example"}) ||
		!slices.Equal(rules[0].GetIdentities(), []string{"alice"}) {
		t.Fatalf("rules %v", rules)
	}
	page = u.page()
	if !strings.Contains(page, "no pinned certificate has it") || !strings.Contains(page, "<li>CN=bob,O=Example</li>") {
		t.Error("the page does not show the rule and its identity")
	}
	base := baseOf(t, page, "rules/save")
	code, body := u.post("rules/save", url.Values{"list_base": {base}, "path_prefix": {"admin/x"}, "emails": {"a@example.com"}}, "", nil)
	if got := fieldError(body, "rule-path-prefix"); code != 422 || !strings.HasPrefix(got, `access_rules[1].path_prefix: "admin/x" must start with '/'`) ||
		!strings.Contains(body, `value="admin/x"`) || !strings.Contains(body, "a@example.com</textarea>") {
		t.Errorf("refused prefix: %d, field error %q", code, got)
	}
	code, body = u.post("rules/save", url.Values{"list_base": {base}, "path_prefix": {"/nobody"}}, "", nil)
	if got := regexp.MustCompile(`id="rule-error">([^<]*)<`).FindStringSubmatch(body); code != 422 || got == nil ||
		!strings.HasPrefix(html.UnescapeString(got[1]), "access_rules[1]: allows nobody") {
		t.Errorf("a rule naming nobody: %d, %v", code, got)
	}
	if code, _ := u.post("rules/save", rule, "", nil); code != 409 {
		t.Errorf("stale base: %d", code)
	}
	if n := len(settingsNow(r).GetAccessRules()); n != 1 {
		t.Fatalf("refused rules saved: %d rules", n)
	}
	if edit := u.get("/ui/sites/app.example.com?rule=0"); !strings.Contains(edit, "CN=alice,O=Example\nCN=bob,O=Example</textarea>") {
		t.Error("?rule=0 does not fill the form with the rule")
	}
	edited := url.Values{"list_base": {base}, "index": {"0"}, "path_prefix": {"/admin/"}, "dns_names": {"ops.example.com"}}
	if code, _ := u.post("rules/save", edited, "", nil); code != 303 {
		t.Fatalf("edit: %d", code)
	}
	if rules := settingsNow(r).GetAccessRules(); len(rules) != 1 || rules[0].GetPathPrefix() != "/admin/" || len(rules[0].GetSubjects()) != 0 {
		t.Fatalf("edited rules %v", rules)
	}
	if code, _ := u.post("rules/remove", url.Values{"list_base": {baseOf(t, u.page(), "rules/remove")}, "index": {"0"}}, "", nil); code != 303 {
		t.Fatalf("remove: %d", code)
	}
	if n := len(settingsNow(r).GetAccessRules()); n != 0 {
		t.Errorf("%d rules after remove", n)
	}
}

// get is the body of a GET of path.
func (u *uiClient) get(path string) string {
	u.t.Helper()
	_, body := u.send("GET", path, "", nil)
	return body
}

// TestPolicyViewer: a viewer sees the pins and rules without controls;
// a forged add, with the viewer's own CSRF token, is refused by the API.
func TestPolicyViewer(t *testing.T) {
	r, _ := siteSetup(t)
	_, viewer, err := r.srv.Store().CreateToken(context.Background(), store.Actor{Action: "test"}, "auditor", pb.Role_ROLE_VIEWER, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := newUIClient(t, r, viewer)
	page := u.page()
	if !strings.Contains(page, `id="policy-readonly"`) || strings.Contains(page, `id="pin-add"`) || strings.Contains(page, `id="rule-form"`) {
		t.Fatal("a viewer is offered the pins and rules forms")
	}
	admin := newUIClient(t, r, r.admin)
	form := url.Values{"list_base": {baseOf(t, admin.page(), "pins/add")}, "fingerprint": {strings.Repeat("ab", 32)}}
	code, body := u.post("pins/add", form, "", nil)
	if code != 403 || !strings.Contains(body, "role viewer may not call UpdateSiteSettings") {
		t.Errorf("forged add: %d", code)
	}
	if n := len(settingsNow(r).GetPins()); n != 0 {
		t.Errorf("a viewer's forged add saved %d pins", n)
	}
}
