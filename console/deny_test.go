package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/console"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// denyPost posts form as multipart to path with its CSRF token; a file,
// when named, goes as field "cert".
func (u *uiClient) denyPost(path string, form url.Values, fileName string, file []byte) (int, string) {
	u.t.Helper()
	tok, err := console.CSRFTokenOf(u.ring, u.cookie, path)
	if err != nil {
		u.t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", tok)
	for k := range form {
		_ = mw.WriteField(k, form.Get(k))
	}
	if fileName != "" {
		fw, _ := mw.CreateFormFile("cert", fileName)
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	return u.send("POST", path, mw.FormDataContentType(), buf.Bytes())
}

// denyNow is the denylist in the store.
func denyNow(r *running) []*pb.DenyEntry { return r.srv.Store().Current().DenyEntries() }

// denyOf is the entry naming fingerprint fp in the store, or nil.
func denyOf(r *running, fp string) *pb.DenyEntry {
	for _, e := range denyNow(r) {
		if e.GetSha256Fingerprint() == fp {
			return e
		}
	}
	return nil
}

// TestDenyAdd: an admin adds an entry by a typed fingerprint (normalised
// by the API), by a certificate file (its SHA-256 computed), and by an
// issuer offered in the select and a serial; the list shows them.
func TestDenyAdd(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	page := u.get("/ui/deny")
	if !strings.Contains(page, `id="deny-add"`) || !strings.Contains(page, `<option value="">every site</option>`) {
		t.Fatal("an admin is not offered the add form with every site")
	}
	m := regexp.MustCompile(`<option value="([^"]*Partner Root CA[^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the issuer select does not offer the uploaded CA's subject")
	}
	issuer := html.UnescapeString(m[1])
	typed := strings.ToUpper(strings.Repeat("ab:", 31) + "ab")
	start := time.Now()
	if code, loc := u.denyPost("/ui/deny", url.Values{"fingerprint": {typed}, "expires": {"720h"}, "comment": {"laptop stolen"}}, "", nil); code != 303 || !strings.HasPrefix(loc, "/ui/deny?added=") {
		t.Fatalf("add by fingerprint: %d %s", code, loc)
	}
	e := denyOf(r, strings.Repeat("ab", 32))
	if e == nil || e.GetSite() != "" || e.GetComment() != "laptop stolen" {
		t.Fatalf("entry by fingerprint: %v", e)
	}
	if x := e.GetExpiresAt().AsTime(); x.Before(start.Add(720*time.Hour)) || x.After(time.Now().Add(720*time.Hour)) {
		t.Errorf("expires at %v, want 720h from now", x)
	}
	alice := testpki.NewRoot(t, "Deny CA", testpki.Options{}).Leaf(t, "alice", testpki.Options{})
	sum := sha256.Sum256(alice.Cert.Raw)
	fileFP := hex.EncodeToString(sum[:])
	if code, loc := u.denyPost("/ui/deny", url.Values{"site": {"app.example.com"}}, "alice.pem", alice.PEM()); code != 303 {
		t.Fatalf("add by file: %d %s", code, loc)
	}
	if e := denyOf(r, fileFP); e == nil || e.GetSite() != "app.example.com" || e.GetExpiresAt() != nil {
		t.Fatalf("entry by file: %v", e)
	}
	if code, loc := u.denyPost("/ui/deny", url.Values{"issuer": {issuer}, "serial": {"0a:1b:2c"}}, "", nil); code != 303 {
		t.Fatalf("add by issuer: %d %s", code, loc)
	}
	var bySerial *pb.DenyEntry
	for _, e := range denyNow(r) {
		if e.GetSerial() != "" {
			bySerial = e
		}
	}
	if bySerial == nil || bySerial.GetSerial() != "A1B2C" || bySerial.GetIssuer() != issuer {
		t.Fatalf("entry by issuer and serial: %v", bySerial)
	}
	page = html.UnescapeString(u.get("/ui/deny"))
	for _, want := range []string{strings.Repeat("ab", 32), fileFP, "A1B2C", "every site", "app.example.com", "laptop stolen", "never"} {
		if !strings.Contains(page, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if page := u.get("/ui/deny?site=other.example.com"); strings.Contains(page, fileFP) || !strings.Contains(page, strings.Repeat("ab", 32)) {
		t.Error("the filter by site shows another site's entry or hides an entry for every site")
	}
}

// TestDenyRefused: a value the console cannot read and the API's
// refusals are shown next to their fields, with what was typed kept;
// nothing is added.
func TestDenyRefused(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	fp := strings.Repeat("cd", 32)
	if code, _ := u.denyPost("/ui/deny", url.Values{"fingerprint": {fp}}, "", nil); code != 303 {
		t.Fatalf("add: %d", code)
	}
	for _, c := range []struct {
		form      url.Values
		file      []byte
		id, want  string
		code      int
		keptValue string
	}{
		{url.Values{"fingerprint": {fp}, "comment": {"again"}}, nil, "deny-fingerprint", "already names this certificate for every site", 422, `value="again"`},
		{url.Values{"fingerprint": {"abc"}}, nil, "deny-fingerprint", `sha256_fingerprint: must be 64 hex digits, got "abc"`, 422, `value="abc"`},
		{url.Values{"issuer": {"CN=Nobody"}, "serial": {"xyz"}}, nil, "deny-serial", `serial: must be hex digits, got "xyz"`, 422, `value="xyz"`},
		{url.Values{"issuer": {"CN=Nobody"}, "serial": {"01"}}, nil, "deny-issuer", `issuer: "CN=Nobody" is not the subject of an uploaded client CA certificate`, 422, `value="01"`},
		{url.Values{"fingerprint": {strings.Repeat("ef", 32)}, "expires": {"soon"}}, nil, "deny-expires", `must be a positive duration`, 422, `value="soon"`},
		{url.Values{"fingerprint": {strings.Repeat("ef", 32)}, "site": {"gone.example.com"}}, nil, "deny-site", `site: no site "gone.example.com"`, 422, ""},
		{url.Values{}, []byte("not a certificate"), "deny-cert", "not a PEM or DER certificate", 422, ""},
	} {
		name := ""
		if c.file != nil {
			name = "junk.pem"
		}
		code, body := u.denyPost("/ui/deny", c.form, name, c.file)
		if got := fieldError(body, c.id); code != c.code || !strings.Contains(got, c.want) || !strings.Contains(body, c.keptValue) {
			t.Errorf("%v: %d, %s error %q, want %q", c.form, code, c.id, got, c.want)
		}
	}
	if n := len(denyNow(r)); n != 1 {
		t.Errorf("%d entries after refusals, want 1", n)
	}
}

// TestDenyRemove: the remove link leads to a confirmation page (a GET
// that changes nothing) whose form removes the entry, naming its site.
func TestDenyRemove(t *testing.T) {
	r, _ := siteSetup(t)
	_, tok, err := r.srv.Store().CreateToken(context.Background(), store.Actor{Action: "test"}, "sm", pb.Role_ROLE_SITE_MANAGER, []string{"app.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	u := newUIClient(t, r, tok)
	page := u.get("/ui/deny")
	if !strings.Contains(page, `id="deny-add"`) || strings.Contains(page, `<option value="">every site</option>`) {
		t.Fatal("a site manager is not offered the add form for its sites only")
	}
	fp := strings.Repeat("12", 32)
	if code, loc := u.denyPost("/ui/deny", url.Values{"fingerprint": {fp}, "site": {"app.example.com"}}, "", nil); code != 303 {
		t.Fatalf("add: %d %s", code, loc)
	}
	id := denyOf(r, fp).GetId()
	if page := u.get("/ui/deny"); !strings.Contains(page, `href="/ui/deny/`+id+`/remove"`) {
		t.Fatal("no remove link")
	}
	confirm := u.get("/ui/deny/" + id + "/remove")
	if !strings.Contains(confirm, `id="deny-remove"`) || !strings.Contains(confirm, `name="site" value="app.example.com"`) || denyOf(r, fp) == nil {
		t.Fatal("the confirmation page has no form naming the site, or removed the entry")
	}
	if code, loc := u.denyPost("/ui/deny/"+id+"/remove", url.Values{"site": {"app.example.com"}}, "", nil); code != 303 || loc != "/ui/deny?removed="+id {
		t.Fatalf("remove: %d %s", code, loc)
	}
	if denyOf(r, fp) != nil {
		t.Error("the entry is still there")
	}
	if page := u.get("/ui/deny?removed=" + id); !strings.Contains(page, "Entry "+id+" is removed.") {
		t.Error("no notice of the removal")
	}
}

// TestDenyViewer: a viewer sees the list but no add form and no remove
// link; its forged posts get the API's refusal and change nothing.
func TestDenyViewer(t *testing.T) {
	r, _ := siteSetup(t)
	admin := newUIClient(t, r, r.admin)
	fp := strings.Repeat("34", 32)
	if code, _ := admin.denyPost("/ui/deny", url.Values{"fingerprint": {fp}}, "", nil); code != 303 {
		t.Fatalf("add: %d", code)
	}
	id := denyOf(r, fp).GetId()
	_, tok, err := r.srv.Store().CreateToken(context.Background(), store.Actor{Action: "test"}, "v", pb.Role_ROLE_VIEWER, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := newUIClient(t, r, tok)
	page := u.get("/ui/deny")
	if !strings.Contains(page, fp) || strings.Contains(page, `id="deny-add"`) || strings.Contains(page, "/remove") {
		t.Error("a viewer does not see the entry, or is offered the add form or a remove link")
	}
	if !strings.Contains(page, `href="/ui/deny" aria-current="page">Denylist</a>`) {
		t.Error("no Denylist entry in the navigation")
	}
	code, body := u.denyPost("/ui/deny", url.Values{"fingerprint": {strings.Repeat("56", 32)}}, "", nil)
	if code != http.StatusForbidden || !strings.Contains(body, "role viewer may not call CreateDenyEntry") {
		t.Errorf("forged add: %d", code)
	}
	code, body = u.denyPost("/ui/deny/"+id+"/remove", url.Values{}, "", nil)
	if code != http.StatusForbidden || !strings.Contains(body, "role viewer may not call DeleteDenyEntry") {
		t.Errorf("forged remove: %d", code)
	}
	if n := len(denyNow(r)); n != 1 || denyOf(r, fp) == nil {
		t.Errorf("forged posts changed the denylist: %d entries", n)
	}
	if code, _ := u.send("POST", "/ui/deny", "application/x-www-form-urlencoded", []byte("fingerprint="+fp)); code != http.StatusForbidden {
		t.Errorf("a post without a CSRF token: %d", code)
	}
}
