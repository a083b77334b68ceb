package console_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestBrowserIdentities: an admin creates an identity from the list,
// lands on its page, binds a self-signed certificate from a file and
// sees it listed as self-signed; the list counts it.
func TestBrowserIdentities(t *testing.T) {
	r, _ := siteSetup(t)
	self := testpki.SelfSigned(t, "alice-laptop", testpki.Options{})
	p := filepath.Join(t.TempDir(), "laptop.pem")
	if err := os.WriteFile(p, self.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	fp := fingerprintOf(self.Cert)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/identities"]`)),
		chromedp.WaitVisible(chromedp.ID("identity-create")),
		chromedp.SendKeys(chromedp.ID("identity-name"), "alice"),
		chromedp.SendKeys(chromedp.ID("identity-comment"), "Alice's laptop"),
		chromedp.Click(chromedp.ID("identity-create-button")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#notice", "Identity alice is created.")
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.ID("bind-cert"), []string{p}),
		chromedp.Click(chromedp.ID("bind-button")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#notice", "Certificate "+fp+" is bound.")
	if kind := text(t, ctx, chromedp.CSS("#bound-"+fp+" td.kind")); kind != "self-signed" {
		t.Errorf("the bound certificate is listed as %q", kind)
	}
	if id := identityNow(r, "alice"); len(id.GetCertificates()) != 1 || !id.GetCertificates()[0].GetSelfSigned() || id.GetComment() != "Alice's laptop" {
		t.Errorf("stored: %v", id)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/ui/identities"]`))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#identity-alice td:nth-of-type(2)", "1")
	// The test ends on the identity's page (the screenshot in the docs).
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#identity-alice a`))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "h1", "Identity alice")
}
