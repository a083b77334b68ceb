package console_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mtlsgate/mtlsgate/console"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// formPost posts form url-encoded to path with its CSRF token.
func (u *uiClient) formPost(path string, form url.Values) (int, string) {
	u.t.Helper()
	tok, err := console.CSRFTokenOf(u.ring, u.cookie, path)
	if err != nil {
		u.t.Fatal(err)
	}
	form.Set("csrf", tok)
	return u.send("POST", path, "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// getOK is the page at path, which must answer 200.
func (u *uiClient) getOK(path string) string {
	u.t.Helper()
	code, body := u.send("GET", path, "", nil)
	if code != http.StatusOK {
		u.t.Fatalf("GET %s: %d", path, code)
	}
	return body
}

// identityNow is the identity called name in the store, or nil.
func identityNow(r *running, name string) *pb.Identity { return r.srv.Store().Current().Identity(name) }

// TestIdentityCreate: an admin creates a disabled identity with a
// comment; the list shows it with its state and no certificate, and its
// page says it was created.
func TestIdentityCreate(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	page := u.getOK("/ui/identities")
	if !strings.Contains(page, `id="identity-create"`) || !strings.Contains(page, `id="mapping-form"`) || !strings.Contains(page, `id="identities-empty"`) {
		t.Fatal("an admin is not offered the create and mapping forms on an empty list")
	}
	code, loc := u.formPost("/ui/identities", url.Values{"name": {"alice@example.com"}, "comment": {"laptop"}})
	if code != 303 || loc != "/ui/identities/alice@example.com?created=1" {
		t.Fatalf("create: %d %s", code, loc)
	}
	id := identityNow(r, "alice@example.com")
	if id == nil || id.GetEnabled() || id.GetComment() != "laptop" {
		t.Fatalf("stored: %v", id)
	}
	if code, loc := u.formPost("/ui/identities", url.Values{"name": {"bob"}, "enabled": {"true"}}); code != 303 || !identityNow(r, "bob").GetEnabled() {
		t.Fatalf("create enabled: %d %s %v", code, loc, identityNow(r, "bob"))
	}
	row := section(html.UnescapeString(u.getOK("/ui/identities")), "identity-alice@example.com")
	for _, want := range []string{`href="/ui/identities/alice@example.com"`, "disabled", "<td>0</td>", "laptop"} {
		if !strings.Contains(row, want) {
			t.Errorf("the row lacks %q: %s", want, row)
		}
	}
	if p := u.getOK("/ui/identities/alice@example.com?created=1"); !strings.Contains(p, "Identity alice@example.com is created.") || !strings.Contains(p, "No certificate is bound.") {
		t.Error("the new identity's page lacks its notice or its empty certificate list")
	}
}

// TestIdentityRefused: the API's refusals are shown next to the field
// they name, with what was typed kept; nothing is created.
func TestIdentityRefused(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	u.formPost("/ui/identities", url.Values{"name": {"alice"}, "enabled": {"true"}})
	for _, c := range []struct {
		form     url.Values
		id, want string
		kept     string
	}{
		{url.Values{"name": {"-alice"}, "comment": {"kept"}}, "identity-name", "must start with a letter or a digit", `value="kept"`},
		{url.Values{"name": {"al ice"}}, "identity-name", "only letters, digits", `value="al ice"`},
		{url.Values{"name": {"alice"}}, "identity-name", "already exists", `value="alice"`},
		{url.Values{"name": {"carol"}, "comment": {strings.Repeat("x", 1025)}}, "identity-comment", "comment: must be at most 1024 bytes", `value="carol"`},
	} {
		code, body := u.formPost("/ui/identities", c.form)
		if got := fieldError(body, c.id); code != 422 || !strings.Contains(got, c.want) || !strings.Contains(body, c.kept) {
			t.Errorf("%v: %d, %s error %q, want %q", c.form, code, c.id, got, c.want)
		}
	}
	if n := len(r.srv.Store().Current().Identities()); n != 1 {
		t.Errorf("%d identities stored, want 1", n)
	}
}

// TestIdentityBind: a self-signed certificate and a CA-issued one are
// bound from files (PEM, and PKCS#12 with its password) and listed with
// their kind; a junk file, a wrong password and a second binding are
// refused next to their field.
func TestIdentityBind(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	u.formPost("/ui/identities", url.Values{"name": {"alice"}, "enabled": {"true"}})
	self := testpki.SelfSigned(t, "alice-laptop", testpki.Options{})
	code, loc := u.denyPost("/ui/identities/alice/bind", url.Values{}, "laptop.pem", self.PEM())
	fpSelf := fingerprintOf(self.Cert)
	if code != 303 || loc != "/ui/identities/alice?bound="+fpSelf {
		t.Fatalf("bind self-signed: %d %s", code, loc)
	}
	root := testpki.NewRoot(t, "Phones CA", testpki.Options{})
	phone := root.Leaf(t, "alice-phone", testpki.Options{})
	p12, err := pkcs12.Modern.Encode(phone.Key, phone.Cert, []*x509.Certificate{root.Cert}, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := u.denyPost("/ui/identities/alice/bind", url.Values{"password": {"wrong"}}, "phone.p12", p12); code != 422 || fieldError(body, "bind-password") == "" {
		t.Errorf("wrong password: %d, password error %q, cert error %q", code, fieldError(body, "bind-password"), fieldError(body, "bind-cert"))
	}
	if code, loc := u.denyPost("/ui/identities/alice/bind", url.Values{"password": {"s3cret"}}, "phone.p12", p12); code != 303 {
		t.Fatalf("bind PKCS#12: %d %s", code, loc)
	}
	page := html.UnescapeString(u.getOK("/ui/identities/alice?bound=" + fingerprintOf(phone.Cert)))
	if !strings.Contains(page, "Certificate "+fingerprintOf(phone.Cert)+" is bound.") {
		t.Error("no notice of the binding")
	}
	if row := section(page, "bound-"+fpSelf); !strings.Contains(row, `<td class="kind">self-signed</td>`) || !strings.Contains(row, "CN=alice-laptop") {
		t.Errorf("self-signed row: %s", row)
	}
	if row := section(page, "bound-"+fingerprintOf(phone.Cert)); !strings.Contains(row, `<td class="kind">CA-issued</td>`) || !strings.Contains(row, "issued by CN=Phones CA") {
		t.Errorf("CA-issued row: %s", row)
	}
	u.formPost("/ui/identities", url.Values{"name": {"bob"}, "enabled": {"true"}})
	for _, c := range []struct {
		file []byte
		want string
	}{
		{[]byte("not a certificate"), "certificate: "},
		{self.PEM(), `is bound to identity "alice"`},
		{root.PEM(), "is a CA certificate"},
		{testpki.SelfSigned(t, "no-eku", testpki.Options{NoEKU: true}).PEM(), "without the clientAuth"},
	} {
		code, body := u.denyPost("/ui/identities/bob/bind", url.Values{}, "c.pem", c.file)
		if got := fieldError(body, "bind-cert"); code != 422 || !strings.Contains(got, c.want) {
			t.Errorf("bind to bob: %d, error %q, want %q", code, got, c.want)
		}
	}
	if code, body := u.denyPost("/ui/identities/bob/bind", url.Values{}, "", nil); code != 422 || !strings.Contains(fieldError(body, "bind-cert"), "choose a certificate file") {
		t.Errorf("no file: %d %q", code, fieldError(body, "bind-cert"))
	}
	if n := len(identityNow(r, "bob").GetCertificates()); n != 0 {
		t.Errorf("bob holds %d certificates after refusals", n)
	}
}

// TestIdentityDisableUnbindDelete: disable and enable through the
// identity page, unbind and delete through their confirmation pages (a
// GET changes nothing).
func TestIdentityDisableUnbindDelete(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	u.formPost("/ui/identities", url.Values{"name": {"alice"}, "enabled": {"true"}})
	self := testpki.SelfSigned(t, "alice-laptop", testpki.Options{})
	u.denyPost("/ui/identities/alice/bind", url.Values{}, "laptop.pem", self.PEM())
	fp := fingerprintOf(self.Cert)
	if code, loc := u.formPost("/ui/identities/alice/enabled", url.Values{"enabled": {"false"}}); code != 303 || identityNow(r, "alice").GetEnabled() {
		t.Fatalf("disable: %d %s", code, loc)
	}
	if p := u.getOK("/ui/identities/alice?enabled=false"); !strings.Contains(p, "Identity alice is disabled.") || !strings.Contains(p, `id="enable-button"`) {
		t.Error("the page does not say it is disabled or offer Enable")
	}
	if code, _ := u.formPost("/ui/identities/alice/enabled", url.Values{"enabled": {"true"}}); code != 303 || !identityNow(r, "alice").GetEnabled() {
		t.Fatal("enable failed")
	}
	confirm := html.UnescapeString(u.getOK("/ui/identities/alice/unbind/" + fp))
	if !strings.Contains(confirm, `id="confirm-unbind"`) || !strings.Contains(confirm, "self-signed") || len(identityNow(r, "alice").GetCertificates()) != 1 {
		t.Fatal("the unbind confirmation lacks its button or facts, or unbound on GET")
	}
	if code, body := u.send("GET", "/ui/identities/alice/unbind/"+strings.Repeat("0", 64), "", nil); code != 404 || strings.Contains(body, "confirm-unbind") {
		t.Errorf("unbind of an unbound fingerprint: %d", code)
	}
	if code, loc := u.formPost("/ui/identities/alice/unbind/"+fp, url.Values{}); code != 303 || len(identityNow(r, "alice").GetCertificates()) != 0 {
		t.Fatalf("unbind: %d %s", code, loc)
	} else if !strings.Contains(u.getOK(loc), "is unbound.") {
		t.Error("no notice of the unbind")
	}
	if !strings.Contains(u.getOK("/ui/identities/alice/delete"), `id="confirm-delete"`) || identityNow(r, "alice") == nil {
		t.Fatal("the delete confirmation lacks its button, or deleted on GET")
	}
	code, loc := u.formPost("/ui/identities/alice/delete", url.Values{})
	if code != 303 || identityNow(r, "alice") != nil {
		t.Fatalf("delete: %d %s", code, loc)
	}
	if !strings.Contains(u.getOK(loc), "Identity alice is deleted.") {
		t.Error("no notice of the delete")
	}
	if code, _ := u.send("GET", "/ui/identities/alice", "", nil); code != 404 {
		t.Errorf("a deleted identity's page: %d", code)
	}
	if code, body := u.formPost("/ui/identities/alice/delete", url.Values{}); code != 404 || !strings.Contains(body, "not found") {
		t.Errorf("deleting again: %d", code)
	}
}

// TestIdentityRoles: every role reads the identities; only admins and CA
// managers are offered the write controls, only admins the account
// mapping form; a write the role may not make is refused by the API and
// changes nothing.
func TestIdentityRoles(t *testing.T) {
	r, _ := siteSetup(t)
	admin := newUIClient(t, r, r.admin)
	admin.formPost("/ui/identities", url.Values{"name": {"alice"}, "enabled": {"true"}})
	self := testpki.SelfSigned(t, "alice-laptop", testpki.Options{})
	admin.denyPost("/ui/identities/alice/bind", url.Values{}, "laptop.pem", self.PEM())
	for _, c := range []struct {
		role           pb.Role
		write, mapping bool
	}{
		{pb.Role_ROLE_CA_MANAGER, true, false},
		{pb.Role_ROLE_SITE_MANAGER, false, false},
		{pb.Role_ROLE_VIEWER, false, false},
	} {
		var sites []string
		if c.role == pb.Role_ROLE_SITE_MANAGER {
			sites = []string{"app.example.com"}
		}
		u := newUIClient(t, r, tokenOf(t, r, c.role, sites...))
		list, page := u.getOK("/ui/identities"), u.getOK("/ui/identities/alice")
		if !strings.Contains(list, `href="/ui/identities/alice"`) || !strings.Contains(page, "alice-laptop") {
			t.Errorf("%v does not read the identities", c.role)
		}
		for _, ctl := range []string{`id="identity-create"`, `id="bind-form"`, `id="disable-button"`, `id="delete-link"`, `class="unbind"`} {
			if got := strings.Contains(list+page, ctl); got != c.write {
				t.Errorf("%v: %s offered %v, want %v", c.role, ctl, got, c.write)
			}
		}
		if got := strings.Contains(list, `id="mapping-form"`); got != c.mapping {
			t.Errorf("%v: mapping form offered %v", c.role, got)
		}
		if !strings.Contains(list, `id="mapping-summary"`) {
			t.Errorf("%v is not shown the account's mapping", c.role)
		}
		if c.write {
			continue
		}
		if code, body := u.formPost("/ui/identities", url.Values{"name": {"mallory"}}); code != 403 || !strings.Contains(body, `id="page-error"`) {
			t.Errorf("%v creating: %d", c.role, code)
		}
		if code, _ := u.formPost("/ui/identities/alice/delete", url.Values{}); code != 403 {
			t.Errorf("%v deleting: %d", c.role, code)
		}
		if code, _ := u.send("GET", "/ui/identities/alice/delete", "", nil); code != 403 {
			t.Errorf("%v delete confirmation: %d", c.role, code)
		}
	}
	ca := newUIClient(t, r, tokenOf(t, r, pb.Role_ROLE_CA_MANAGER))
	if code, body := ca.formPost("/ui/account/mapping", url.Values{"source": {"IDENTITY_SOURCE_SUBJECT_CN"}}); code != 403 || !strings.Contains(body, `id="page-error"`) {
		t.Errorf("a CA manager saving the mapping: %d", code)
	}
	if identityNow(r, "mallory") != nil || identityNow(r, "alice") == nil || r.srv.Store().Current().AccountSettings() != nil {
		t.Error("a refused write changed the store")
	}
}

// TestAccountMappingForm: an admin saves the account's mapping (mask
// identity_mapping); what the API refuses is shown next to its field.
func TestAccountMappingForm(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	for _, c := range []struct {
		form     url.Values
		id, want string
	}{
		{url.Values{"source": {"IDENTITY_SOURCE_SUBJECT_ATTRIBUTE"}}, "mapping-oid", "identity_mapping.oid: is required"},
		{url.Values{"source": {"IDENTITY_SOURCE_SUBJECT_ATTRIBUTE"}, "oid": {"not.an.oid"}}, "mapping-oid", "identity_mapping.oid"},
		{url.Values{"source": {"IDENTITY_SOURCE_NONE"}, "trim_prefix": {"x-"}}, "mapping-trim", "means nothing with source NONE"},
		{url.Values{"source": {"BOGUS"}}, "mapping-source", "choose one of the listed sources"},
	} {
		code, body := u.formPost("/ui/account/mapping", c.form)
		if got := fieldError(body, c.id); code != 422 || !strings.Contains(got, c.want) {
			t.Errorf("%v: %d, %s error %q, want %q", c.form, code, c.id, got, c.want)
		}
	}
	if r.srv.Store().Current().AccountSettings() != nil {
		t.Fatal("a refused mapping was saved")
	}
	code, loc := u.formPost("/ui/account/mapping", url.Values{"source": {"IDENTITY_SOURCE_SAN_URI"}, "trim_prefix": {"spiffe://example.org/user/"}})
	if code != 303 {
		t.Fatalf("save: %d %s", code, loc)
	}
	m := r.srv.Store().Current().AccountSettings().GetIdentityMapping()
	if m.GetSource() != pb.IdentitySource_IDENTITY_SOURCE_SAN_URI || m.GetTrimPrefix() != "spiffe://example.org/user/" {
		t.Errorf("stored mapping %v", m)
	}
	page := u.getOK(loc)
	if !strings.Contains(page, "The account&#39;s identity mapping is saved.") || !strings.Contains(page, `<option value="IDENTITY_SOURCE_SAN_URI" selected>`) {
		t.Error("the page does not show the saved mapping")
	}
}

// fingerprintOf is the lowercase hex SHA-256 of c's DER.
func fingerprintOf(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}
