package console_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"html"
	"mime/multipart"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mtlsgate/mtlsgate/console"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// issuingSetup is a server with an issuing CA and the identities named
// (enabled), with an admin's console session.
func issuingSetup(t *testing.T, identities ...string) (*running, *uiClient) {
	t.Helper()
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	if code, loc := u.formPost("/ui/issuing/ca", url.Values{"common_name": {"Example client CA"}}); code != 303 || loc != "/ui/issuing?created=1" {
		t.Fatalf("create the issuing CA: %d %s", code, loc)
	}
	for _, name := range identities {
		u.formPost("/ui/identities", url.Values{"name": {name}, "enabled": {"true"}})
	}
	return r, u
}

// downloadOf is the body of the data: URL of the link with id in page.
func downloadOf(t *testing.T, page, id string) []byte {
	t.Helper()
	m := regexp.MustCompile(`id="` + id + `" href="data:[^;]+;base64,([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return b
}

// csrPEM is a certificate request for a fresh key.
func csrPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// TestIssuingCreateCA: an admin is offered the create form on an account
// without an issuing CA; a lifetime the API refuses is shown next to it;
// once created, the page shows the CA's facts and links its client CA.
func TestIssuingCreateCA(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	if p := u.getOK("/ui/issuing"); !strings.Contains(p, `id="issuing-create"`) {
		t.Fatal("no create form for an admin")
	}
	if p := newUIClient(t, r, tokenOf(t, r, pb.Role_ROLE_CA_MANAGER)).getOK("/ui/issuing"); strings.Contains(p, `id="issuing-create"`) || !strings.Contains(p, `id="no-issuing-ca"`) {
		t.Error("a CA manager is offered the create form, or not told there is no CA")
	}
	for _, c := range []struct {
		days, want string
	}{{"ten", "must be a whole number of days"}, {"99999", "days: 99999 is not between 1 and"}} {
		code, body := u.formPost("/ui/issuing/ca", url.Values{"common_name": {"Kept CA"}, "days": {c.days}})
		if got := fieldError(body, "ca-days"); code != 422 || !strings.Contains(got, c.want) || !strings.Contains(body, `value="Kept CA"`) {
			t.Errorf("days %q: %d %q", c.days, code, got)
		}
	}
	if r.srv.Store().Current().IssuingCA() != nil {
		t.Fatal("a refused form created the CA")
	}
	if code, loc := u.formPost("/ui/issuing/ca", url.Values{"common_name": {"Example client CA"}, "days": {"365"}}); code != 303 {
		t.Fatalf("create: %d %s", code, loc)
	}
	ica := r.srv.Store().Current().IssuingCA()
	page := html.UnescapeString(u.getOK("/ui/issuing?created=1"))
	for _, want := range []string{"The issuing CA is created.", "CN=Example client CA", `href="/ui/cas/` + ica.GetClientCaId() + `"`, ica.GetCrlUrl(), `id="issued-empty"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if code, body := u.formPost("/ui/issuing/ca", url.Values{}); code != 422 || !strings.Contains(body, `id="page-error"`) {
		t.Errorf("a second CA: %d", code)
	}
}

// TestIssuingIssue: without a CSR the answer page offers the certificate,
// the key and a PKCS#12 file that opens with the password typed; with a
// CSR only the certificate (for the CSR's key); refusals go next to
// their field.
func TestIssuingIssue(t *testing.T) {
	r, u := issuingSetup(t, "alice", "bob")
	u.formPost("/ui/identities/bob/enabled", url.Values{"enabled": {"false"}})
	page := u.getOK("/ui/issuing")
	if !strings.Contains(page, `<option value="alice">`) || strings.Contains(page, `<option value="bob">`) {
		t.Fatal("the identity select does not offer exactly the enabled identities")
	}
	code, body := u.denyPost("/ui/issuing/issue", url.Values{"identity": {"alice"}, "days": {"30"}, "password": {"s3cret"}}, "", nil)
	if code != 200 || !strings.Contains(body, "These files are shown once.") {
		t.Fatalf("issue: %d", code)
	}
	p12 := downloadOf(t, body, "download-p12")
	key, cert, _, err := pkcs12.DecodeChain(p12, "s3cret")
	if err != nil || cert.Subject.CommonName != "alice" || key == nil {
		t.Fatalf("the PKCS#12 download: %v %v", err, cert)
	}
	if k := downloadOf(t, body, "download-key"); !strings.Contains(string(k), "PRIVATE KEY") {
		t.Error("no private key download")
	}
	issued := r.srv.Store().Current().IssuedCertificates()
	if len(issued) != 1 || issued[0].GetIdentity() != "alice" || !strings.Contains(body, issued[0].GetSerial()) {
		t.Fatalf("issued %v", issued)
	}
	code, body = u.denyPostFile("/ui/issuing/issue", url.Values{"identity": {"alice"}}, "csr", "alice.csr", csrPEM(t))
	if code != 200 || downloadOf(t, body, "download-cert") == nil || downloadOf(t, body, "download-p12") != nil || downloadOf(t, body, "download-key") != nil {
		t.Fatalf("issue for a CSR: %d, or a key or PKCS#12 offered", code)
	}
	for _, c := range []struct {
		form     url.Values
		csr      []byte
		id, want string
	}{
		{url.Values{"identity": {"bob"}}, nil, "issue-identity", `identity "bob" is disabled`},
		{url.Values{"identity": {"alice"}, "days": {"-1"}}, nil, "issue-days", "must be a whole number of days"},
		{url.Values{"identity": {"alice"}, "days": {"5000"}}, nil, "issue-days", "days: 5000 is not between"},
		{url.Values{"identity": {"alice"}, "password": {"pw"}}, csrPEM(t), "issue-password", "applies only without csr_pem"},
		{url.Values{"identity": {"alice"}}, []byte("junk"), "issue-csr", "csr_pem: "},
	} {
		code, body := u.denyPostFile("/ui/issuing/issue", c.form, "csr", "x.csr", c.csr)
		if got := fieldError(body, c.id); code != 422 || !strings.Contains(got, c.want) {
			t.Errorf("%v: %d, %s error %q, want %q", c.form, code, c.id, got, c.want)
		}
	}
	if n := len(r.srv.Store().Current().IssuedCertificates()); n != 2 {
		t.Errorf("%d certificates issued, want 2", n)
	}
}

// TestIssuingRenewRevoke: renew answers with a new certificate for the
// same identity; revoke goes through its confirmation (a GET changes
// nothing) and the list then shows it revoked, without actions.
func TestIssuingRenewRevoke(t *testing.T) {
	r, u := issuingSetup(t, "alice")
	u.denyPost("/ui/issuing/issue", url.Values{"identity": {"alice"}}, "", nil)
	serial := r.srv.Store().Current().IssuedCertificates()[0].GetSerial()
	if row := rowOf(u.getOK("/ui/issuing"), "issued-"+serial); !strings.Contains(row, `id="renew-`+serial+`"`) || !strings.Contains(row, `class="revoke"`) {
		t.Fatalf("the row lacks its actions: %s", row)
	}
	code, body := u.formPost("/ui/issuing/"+serial+"/renew", url.Values{})
	if code != 200 || downloadOf(t, body, "download-p12") == nil || !strings.Contains(body, `id="p12-password"`) {
		t.Fatalf("renew: %d", code)
	}
	var renewed *pb.IssuedCertificate
	for _, ic := range r.srv.Store().Current().IssuedCertificates() {
		if ic.GetRenews() == serial {
			renewed = ic
		}
	}
	if renewed == nil || renewed.GetIdentity() != "alice" {
		t.Fatal("no renewal recorded")
	}
	if p := u.getOK("/ui/issuing/" + serial + "/revoke"); !strings.Contains(p, `id="confirm-revoke"`) || r.srv.Store().Current().IssuedCertificate(serial).GetRevokedAt() != nil {
		t.Fatal("the revoke confirmation lacks its button, or revoked on GET")
	}
	code, loc := u.formPost("/ui/issuing/"+serial+"/revoke", url.Values{})
	if code != 303 || r.srv.Store().Current().IssuedCertificate(serial).GetRevokedAt() == nil {
		t.Fatalf("revoke: %d %s", code, loc)
	}
	page := u.getOK(loc)
	if row := rowOf(page, "issued-"+serial); strings.Contains(row, "renew-") || strings.Contains(row, `<td class="revoked">no</td>`) || !strings.Contains(page, "Certificate "+serial+" is revoked.") {
		t.Errorf("the revoked row: %s", row)
	}
	if code, _ := u.send("GET", "/ui/issuing/"+serial+"/revoke", "", nil); code != 422 {
		t.Errorf("revoking again: %d", code)
	}
}

// TestIssuingRoles: a viewer reads the CA and the list without the issue
// form or actions, a site manager the CA without the list (the API's
// refusal shown); a forged issue is refused and issues nothing.
func TestIssuingRoles(t *testing.T) {
	r, admin := issuingSetup(t, "alice")
	admin.denyPost("/ui/issuing/issue", url.Values{"identity": {"alice"}}, "", nil)
	viewer := newUIClient(t, r, tokenOf(t, r, pb.Role_ROLE_VIEWER))
	page := viewer.getOK("/ui/issuing")
	if strings.Contains(page, `id="issue-form"`) || strings.Contains(page, "renew-") || !strings.Contains(page, `id="issued-list"`) {
		t.Error("a viewer is offered the issue form or actions, or not the list")
	}
	if code, _ := viewer.denyPost("/ui/issuing/issue", url.Values{"identity": {"alice"}}, "", nil); code != 403 {
		t.Errorf("a viewer's forged issue: %d", code)
	}
	site := newUIClient(t, r, tokenOf(t, r, pb.Role_ROLE_SITE_MANAGER, "app.example.com"))
	if p := site.getOK("/ui/issuing"); !strings.Contains(p, `id="issued-error"`) || !strings.Contains(p, "CN=Example client CA") {
		t.Error("a site manager does not see the CA, or the list's refusal")
	}
	if n := len(r.srv.Store().Current().IssuedCertificates()); n != 1 {
		t.Errorf("%d issued", n)
	}
}

// denyPostFile posts form as multipart to path with its CSRF token and,
// when file is not nil, the file as field.
func (u *uiClient) denyPostFile(path string, form url.Values, field, fileName string, file []byte) (int, string) {
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
	if file != nil {
		fw, _ := mw.CreateFormFile(field, fileName)
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	return u.send("POST", path, mw.FormDataContentType(), buf.Bytes())
}

// rowOf is the table row with id in page, up to its end.
func rowOf(page, id string) string {
	row := section(page, id)
	if i := strings.Index(row, "</tr>"); i >= 0 {
		return row[:i]
	}
	return row
}
