package console_test

import (
	"bytes"
	"context"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/console"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

const editHost = "app.example.com"

// editForm is the edit form of the site page as shown: its text fields
// and their hidden bases.
func editForm(t *testing.T, page string) url.Values {
	t.Helper()
	if !strings.Contains(page, `id="site-edit"`) {
		t.Fatal("no edit form in the page")
	}
	form := url.Values{}
	for _, n := range []string{"origin_url", "fleets", "chain_path", "key_path"} {
		for _, name := range []string{n, "base_" + n} {
			m := regexp.MustCompile(`name="` + name + `"[^>]*value="([^"]*)"`).FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no %s in the edit form", name)
			}
			form.Set(name, html.UnescapeString(m[1]))
		}
	}
	return form
}

// sitePost posts form as multipart to the site's action (edit or delete)
// with its CSRF token, files by field name.
func (u *uiClient) sitePost(action string, form url.Values, files map[string]string) (int, string) {
	u.t.Helper()
	path := "/ui/sites/" + editHost + "/" + action
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
	for field, body := range files {
		fw, _ := mw.CreateFormFile(field, field+".pem")
		_, _ = fw.Write([]byte(body))
	}
	_ = mw.Close()
	return u.send("POST", path, mw.FormDataContentType(), buf.Bytes())
}

// siteNow is the site in the store.
func siteNow(r *running) *pb.Site { return r.srv.Store().Current().Site(editHost) }

// patchSite changes the site through the JSON API, as someone else would.
func patchSite(t *testing.T, r *running, body string) {
	t.Helper()
	apiCall(t, r, r.admin, "PATCH", "/v1/sites/"+editHost, "application/json", []byte(body), nil)
}

// TestSiteEditOrigin: changing the origin sends origin_url alone: fleets
// someone else set after the page was loaded stay, the certificate too.
func TestSiteEditOrigin(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	form := editForm(t, u.page())
	if form.Get("origin_url") != "http://127.0.0.1:8080" || form.Get("base_origin_url") != "http://127.0.0.1:8080" {
		t.Fatalf("origin shown %q, base %q", form.Get("origin_url"), form.Get("base_origin_url"))
	}
	fp := siteNow(r).GetServerCertificate().GetInline().GetInfo().GetSha256Fingerprint()
	patchSite(t, r, `{"site": {"fleets": ["eu-west"]}, "update_mask": ["fleets"]}`)
	form.Set("origin_url", "https://10.0.0.7:8443")
	code, loc := u.sitePost("edit", form, nil)
	if code != http.StatusSeeOther || loc != "/ui/sites/app.example.com?edited=origin_url" {
		t.Fatalf("save: %d %s", code, loc)
	}
	site := siteNow(r)
	if site.GetOriginUrl() != "https://10.0.0.7:8443" {
		t.Errorf("origin in the store %q", site.GetOriginUrl())
	}
	if f := site.GetFleets(); len(f) != 1 || f[0] != "eu-west" {
		t.Errorf("fleets %v: the mask named more than origin_url", f)
	}
	if got := site.GetServerCertificate().GetInline().GetInfo().GetSha256Fingerprint(); got != fp {
		t.Errorf("certificate changed: %s", got)
	}
	if page := u.get(loc); !strings.Contains(page, `id="edit-notice">Saved: origin_url.<`) {
		t.Error("the page does not say origin_url was saved")
	}
	// Fleets: a set, typed in any order, with spaces.
	form = editForm(t, u.page())
	form.Set("fleets", " us-east ,eu-west")
	if code, loc := u.sitePost("edit", form, nil); code != http.StatusSeeOther || !strings.HasSuffix(loc, "?edited=fleets") {
		t.Fatalf("fleets: %d %s", code, loc)
	}
	if f := siteNow(r).GetFleets(); len(f) != 2 || f[0] != "eu-west" || f[1] != "us-east" {
		t.Errorf("fleets %v", f)
	}
}

// TestSiteEditCertificate: a certificate replaced by upload sends
// server_certificate alone (an origin someone else set meanwhile stays).
func TestSiteEditCertificate(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	form := editForm(t, u.page())
	before := siteNow(r).GetServerCertificate().GetInline().GetInfo().GetNotAfter().AsTime()
	patchSite(t, r, `{"site": {"origin_url": "http://127.0.0.1:9090"}, "update_mask": ["origin_url"]}`)
	cert, key := serverCert(t, editHost, 400*24*time.Hour)
	code, loc := u.sitePost("edit", form, map[string]string{"cert": cert, "key": key})
	if code != http.StatusSeeOther || loc != "/ui/sites/app.example.com?edited=server_certificate" {
		t.Fatalf("save: %d %s", code, loc)
	}
	site := siteNow(r)
	after := site.GetServerCertificate().GetInline().GetInfo().GetNotAfter().AsTime()
	if !after.After(before.Add(300 * 24 * time.Hour)) {
		t.Errorf("certificate not renewed: not after %v, was %v", after, before)
	}
	if site.GetOriginUrl() != "http://127.0.0.1:9090" {
		t.Errorf("origin %q: the mask named more than server_certificate", site.GetOriginUrl())
	}
	// A key without its chain is refused by the console, nothing sent.
	code, page := u.sitePost("edit", editForm(t, u.page()), map[string]string{"key": key})
	if code != http.StatusUnprocessableEntity || !strings.Contains(fieldError(page, "edit-cert"), "choose the certificate chain file") {
		t.Errorf("key alone: %d, cert error %q", code, fieldError(page, "edit-cert"))
	}
	// Paths instead: the site then reads its files on the Envoy host.
	form = editForm(t, u.page())
	form.Set("chain_path", "/etc/envoy/app.pem")
	form.Set("key_path", "/etc/envoy/app.key")
	if code, loc := u.sitePost("edit", form, nil); code != http.StatusSeeOther || !strings.HasSuffix(loc, "?edited=server_certificate") {
		t.Fatalf("paths: %d %s", code, loc)
	}
	if f := siteNow(r).GetServerCertificate().GetFiles(); f.GetCertificateChainPath() != "/etc/envoy/app.pem" || f.GetPrivateKeyPath() != "/etc/envoy/app.key" {
		t.Errorf("files %v", f)
	}
}

// TestSiteEditRefused: a certificate for another hostname, or with
// another key, is refused with the API's message next to the certificate
// field, what was typed kept and nothing changed; a bad path is refused
// next to its field.
func TestSiteEditRefused(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	before := siteNow(r)
	other, otherKey := serverCert(t, "other.example.com", 400*24*time.Hour)
	good, _ := serverCert(t, editHost, 400*24*time.Hour)
	for name, files := range map[string]map[string]string{
		"other host": {"cert": other, "key": otherKey},
		"other key":  {"cert": good, "key": otherKey},
	} {
		form := editForm(t, u.page())
		form.Set("origin_url", "https://10.0.0.9:8443")
		code, page := u.sitePost("edit", form, files)
		msg := fieldError(page, "edit-cert")
		if code != http.StatusUnprocessableEntity || !strings.HasPrefix(msg, "server_certificate.inline: ") {
			t.Errorf("%s: %d, certificate field error %q", name, code, msg)
		}
		if name == "other host" && !strings.Contains(msg, "does not cover app.example.com") {
			t.Errorf("%s: %q is not the API's reason", name, msg)
		}
		if !strings.Contains(page, `value="https://10.0.0.9:8443"`) {
			t.Errorf("%s: the origin typed is not kept", name)
		}
	}
	form := editForm(t, u.page())
	form.Set("chain_path", "etc/app.pem")
	form.Set("key_path", "/etc/app.key")
	code, page := u.sitePost("edit", form, nil)
	if msg := fieldError(page, "edit-chain-path"); code != http.StatusUnprocessableEntity || !strings.Contains(msg, "clean absolute path") {
		t.Errorf("relative path: %d, %q", code, msg)
	}
	after := siteNow(r)
	if !after.GetUpdatedAt().AsTime().Equal(before.GetUpdatedAt().AsTime()) || after.GetOriginUrl() != before.GetOriginUrl() ||
		after.GetServerCertificate().GetInline().GetInfo().GetSha256Fingerprint() != before.GetServerCertificate().GetInline().GetInfo().GetSha256Fingerprint() {
		t.Error("a refused save changed the site")
	}
}

// TestSiteEditNothingChanged: the form as shown sends nothing.
func TestSiteEditNothingChanged(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	before := siteNow(r).GetUpdatedAt().AsTime()
	time.Sleep(10 * time.Millisecond)
	form := editForm(t, u.page())
	form.Set("fleets", " ")
	code, page := u.sitePost("edit", form, nil)
	if code != http.StatusOK || !strings.Contains(page, `id="edit-notice">Nothing changed; nothing was sent.<`) {
		t.Errorf("nothing changed: %d", code)
	}
	if got := siteNow(r).GetUpdatedAt().AsTime(); !got.Equal(before) {
		t.Errorf("updated_at %v, was %v", got, before)
	}
}

// TestSiteDelete: the confirmation page says what deleting does; its
// form deletes the site and the list says so.
func TestSiteDelete(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	if !strings.Contains(u.page(), `href="/ui/sites/app.example.com/delete"`) {
		t.Error("no delete link on the site page")
	}
	page := u.get("/ui/sites/" + editHost + "/delete")
	if !strings.Contains(page, "Envoy stops serving") || !strings.Contains(page, `id="confirm-delete"`) {
		t.Errorf("confirmation page: %s", page)
	}
	code, loc := u.sitePost("delete", url.Values{}, nil)
	if code != http.StatusSeeOther || loc != "/ui/sites?deleted=app.example.com" {
		t.Fatalf("delete: %d %s", code, loc)
	}
	if siteNow(r) != nil {
		t.Error("the site is still in the store")
	}
	if page := u.get(loc); !strings.Contains(page, `id="notice">Site app.example.com is deleted.<`) {
		t.Error("the list does not say the site is deleted")
	}
	// Deleted again: the API's refusal on the confirmation page.
	if code, page := u.sitePost("delete", url.Values{}, nil); code != http.StatusNotFound || !strings.Contains(page, `id="page-error"`) {
		t.Errorf("second delete: %d", code)
	}
}

// TestSiteEditViewer: a viewer and a site-manager of the site get no edit
// form and no delete link; a viewer's forged posts are refused by the API
// and change nothing.
func TestSiteEditViewer(t *testing.T) {
	r, _ := siteSetup(t)
	before := siteNow(r)
	for role, sites := range map[pb.Role][]string{pb.Role_ROLE_VIEWER: nil, pb.Role_ROLE_SITE_MANAGER: {editHost}} {
		_, tok, err := r.srv.Store().CreateToken(context.Background(), store.Actor{Action: "test"}, "t", role, sites)
		if err != nil {
			t.Fatal(err)
		}
		u := newUIClient(t, r, tok)
		if page := u.page(); strings.Contains(page, `id="site-edit"`) || strings.Contains(page, "/delete") {
			t.Errorf("%v is offered the edit form or the delete link", role)
		}
		if role != pb.Role_ROLE_VIEWER {
			continue
		}
		if page := u.get("/ui/sites/" + editHost + "/delete"); strings.Contains(page, `id="site-delete"`) {
			t.Error("a viewer is offered the delete form")
		}
		form := url.Values{"origin_url": {"https://10.0.0.7:8443"}, "base_origin_url": {"http://127.0.0.1:8080"}}
		code, page := u.sitePost("edit", form, nil)
		if code != http.StatusForbidden || !strings.Contains(page, "role viewer may not call UpdateSite") {
			t.Errorf("forged edit: %d", code)
		}
		code, page = u.sitePost("delete", url.Values{}, nil)
		if code != http.StatusForbidden || !strings.Contains(page, "role viewer may not call DeleteSite") {
			t.Errorf("forged delete: %d", code)
		}
	}
	after := siteNow(r)
	if after == nil || after.GetOriginUrl() != before.GetOriginUrl() || !after.GetUpdatedAt().AsTime().Equal(before.GetUpdatedAt().AsTime()) {
		t.Errorf("forged posts changed the site: %v", after)
	}
}
