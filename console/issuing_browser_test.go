package console_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"software.sslmate.com/src/go-pkcs12"
)

// TestBrowserIssuing: an admin issues a certificate to an identity from
// the issuing page, without a CSR and with a password, and gets the
// PKCS#12 download link: the file it names opens with that password and
// holds the identity's certificate; the page says the files are shown
// once.
func TestBrowserIssuing(t *testing.T) {
	r, _ := siteSetup(t)
	apiCall(t, r, r.admin, "POST", "/v1/issuing-ca", "application/json", []byte(`{"common_name": "Example client CA"}`), nil)
	apiCall(t, r, r.admin, "POST", "/v1/identities", "application/json", []byte(`{"identity": {"name": "alice"}}`), nil)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/issuing"]`)),
		chromedp.WaitVisible(chromedp.ID("issue-form")),
		chromedp.SetValue(chromedp.ID("issue-identity"), "alice"),
		chromedp.SendKeys(chromedp.ID("issue-days"), "30"),
		chromedp.SendKeys(chromedp.ID("issue-password"), "s3cret"),
		chromedp.Click(chromedp.ID("issue-button")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#files-heading", "Save the files now")
	if once := text(t, ctx, "#shown-once"); !strings.Contains(once, "These files are shown once.") {
		t.Errorf("the page does not say the files are shown once: %q", once)
	}
	href := evaluate[string](t, ctx, `document.getElementById("download-p12").getAttribute("href")`)
	name := evaluate[string](t, ctx, `document.getElementById("download-p12").getAttribute("download")`)
	b64, ok := strings.CutPrefix(href, "data:application/x-pkcs12;base64,")
	if !ok || !strings.HasPrefix(name, "alice-") || !strings.HasSuffix(name, ".p12") {
		t.Fatalf("the PKCS#12 link: %.60s, file %q", href, name)
	}
	p12, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	if _, cert, _, err := pkcs12.DecodeChain(p12, "s3cret"); err != nil || cert.Subject.CommonName != "alice" {
		t.Errorf("the PKCS#12 file: %v", err)
	}
	if p := evaluate[string](t, ctx, `document.getElementById("p12-password").value`); p != "s3cret" {
		t.Errorf("the password shown: %q", p)
	}
	for _, pr := range evaluate[[]string](t, ctx, pageProblems) {
		t.Errorf("the answer page: %s", pr)
	}
}
