package console_test

import (
	"context"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestBrowserCADetails: an admin uploads a bundle of a root and an
// intermediate, opens it from the list and sees both certificates, the
// intermediate with its CRL and the root without; assigns it to a site
// from the CA page; a delete without force is refused with the API's
// reason, a forced one deletes it and ends on the list with the notice.
func TestBrowserCADetails(t *testing.T) {
	r := startServer(t)
	createSite(t, r, "app.example.com", 90*24*time.Hour)
	root := testpki.NewRoot(t, "Partner Root CA", testpki.Options{})
	issuer := root.Intermediate(t, "Partner Issuing CA", testpki.Options{NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	bundle := filepath.Join(t.TempDir(), "partner-bundle.pem")
	if err := os.WriteFile(bundle, testpki.Bundle(root, issuer), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.srv.Store().AddCA(context.Background(), store.Actor{Action: "test"},
		store.NewCA{Name: "legacy-root", Bundle: testpki.NewRoot(t, "Legacy Root CA", testpki.Options{}).PEM()}); err != nil {
		t.Fatal(err)
	}
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("name"), "partner"),
		chromedp.SetUploadFiles(chromedp.ID("bundle"), []string{bundle}),
		chromedp.Click(chromedp.CSS("#upload button")),
		// legacy-root and the upload.
		chromedp.WaitVisible(chromedp.CSS("#ca-list tbody tr:nth-child(2)")),
	); err != nil {
		t.Fatal(err)
	}
	crl := issuer.CRL(t, 7, time.Now().Add(-time.Minute), time.Now().Add(7*24*time.Hour), big.NewInt(42))
	if _, err := r.srv.Store().CreateCRL(context.Background(), store.Actor{Action: "test"}, crl); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, ca := range r.srv.Store().Current().CAs() {
		if ca.GetName() == "partner" {
			id = ca.GetId()
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#ca-list a[href="/ui/cas/`+id+`"]`)),
		chromedp.WaitVisible(chromedp.ID("ca-facts")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#cert-0"); !strings.Contains(got, "CN=Partner Root CA") || !strings.Contains(got, "no CRL") {
		t.Errorf("root certificate: %q", got)
	}
	if got := text(t, ctx, "#cert-1"); !strings.Contains(got, "CN=Partner Issuing CA") || !strings.Contains(got, "CRL number 7") ||
		!strings.Contains(got, "fresh") || !strings.Contains(got, "expires soon") {
		t.Errorf("intermediate certificate: %q", got)
	}
	assignFromCAPage(t, ctx, r)
	deleteFromCAPage(t, ctx, r)
}

// assignFromCAPage assigns the open CA page's CA to app.example.com.
func assignFromCAPage(t *testing.T, ctx context.Context, r *running) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("ca-sites-empty")),
		chromedp.SetValue(chromedp.ID("assign-site"), "app.example.com"),
		chromedp.Click(chromedp.CSS("#ca-assign button")),
		chromedp.WaitVisible(chromedp.ID("ca-sites")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#ca-sites tbody"); !strings.Contains(got, "app.example.com") {
		t.Errorf("assigned sites: %q", got)
	}
	if ids := r.srv.Store().Current().Site("app.example.com").GetCaIds(); len(ids) != 1 {
		t.Errorf("the site's CAs in the store: %v", ids)
	}
}

// deleteFromCAPage deletes the open CA page's CA: without force (refused,
// the API's reason shown), then with force; it ends on the list.
func deleteFromCAPage(t *testing.T, ctx context.Context, r *running) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("delete-link")),
		chromedp.WaitVisible(chromedp.ID("ca-delete")),
		chromedp.Click(chromedp.ID("confirm-delete")),
		chromedp.WaitVisible(chromedp.ID("delete-reason")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#delete-reason"); !strings.Contains(got, "is assigned to app.example.com; unassign it first or force the delete") {
		t.Errorf("reason: %q", got)
	}
	if n := len(r.srv.Store().Current().CAs()); n != 2 {
		t.Fatalf("%d CAs after a refused delete, want 2", n)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("force")),
		chromedp.Click(chromedp.ID("confirm-delete")),
		chromedp.WaitVisible(chromedp.ID("notice")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#notice"); got != "Client CA partner is deleted." {
		t.Errorf("notice %q", got)
	}
	if n := len(r.srv.Store().Current().CAs()); n != 1 {
		t.Errorf("%d CAs after a forced delete, want 1", n)
	}
}
