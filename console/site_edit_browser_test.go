package console_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserSiteEditAndDelete: an admin renews a site's server
// certificate that expires soon by uploading a later one, changes its
// origin, then deletes it through the confirmation page and lands on the
// sites list, which says so.
func TestBrowserSiteEditAndDelete(t *testing.T) {
	r := startServer(t)
	createSite(t, r, editHost, 20*24*time.Hour)
	createSite(t, r, "shop.example.com", 90*24*time.Hour)
	cert, key := serverCert(t, editHost, 400*24*time.Hour)
	dir := t.TempDir()
	cp, kp := filepath.Join(dir, "app.pem"), filepath.Join(dir, "app.key")
	for p, b := range map[string]string{cp: cert, kp: key} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/sites/"+editHost), chromedp.WaitVisible(chromedp.ID("site-edit"))); err != nil {
		t.Fatal(err)
	}
	was := text(t, ctx, "#cert-expiry")
	if !strings.Contains(was, "expires soon") {
		t.Errorf("expiry before %q", was)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.ID("edit-cert"), []string{cp}),
		chromedp.SetUploadFiles(chromedp.ID("edit-key"), []string{kp}),
		chromedp.Click(chromedp.ID("edit-save")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#edit-notice", "Saved: server_certificate.")
	want := time.Now().Add(400 * 24 * time.Hour).UTC().Format("2006-01-02")
	if got := text(t, ctx, "#cert-expiry"); got == was || !strings.Contains(got, want) || strings.Contains(got, "soon") {
		t.Errorf("expiry after the renewal %q, before %q", got, was)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("edit-origin-url"), "https://10.0.0.7:8443"),
		chromedp.Click(chromedp.ID("edit-save")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#edit-notice", "Saved: origin_url.")
	if got := text(t, ctx, "#site-facts dd"); got != "https://10.0.0.7:8443" {
		t.Errorf("origin shown %q", got)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("delete-site")),
		chromedp.WaitVisible(chromedp.ID("site-delete-confirm")),
		chromedp.Click(chromedp.ID("confirm-delete")),
		chromedp.WaitVisible(chromedp.ID("notice")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#notice"); got != "Site app.example.com is deleted." {
		t.Errorf("notice %q", got)
	}
	if rows := text(t, ctx, "#site-list tbody"); strings.Contains(rows, editHost) || !strings.Contains(rows, "shop.example.com") {
		t.Errorf("sites listed %q", rows)
	}
	if siteNow(r) != nil {
		t.Error("the site is still in the store")
	}
}
