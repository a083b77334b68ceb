package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserUploadAssignsSites: the upload form offers the sites; the CA
// is assigned to those checked, atomically with the upload. A site
// deleted after the page was loaded makes the API refuse the upload: its
// message is shown next to the sites, the box stays checked, and no CA
// is created.
func TestBrowserUploadAssignsSites(t *testing.T) {
	r, _ := siteSetup(t)
	createSite(t, r, "shop.example.com", 90*24*time.Hour)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	upload := func(name, cn string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.SetUploadFiles(chromedp.ID("bundle"), []string{caFile(t, cn)}),
			chromedp.Click(chromedp.CSS(`input[name=sites][value="shop.example.com"]`)),
			chromedp.Click(chromedp.CSS("#upload button")),
			chromedp.WaitReady("body"),
		); err != nil {
			t.Fatal(err)
		}
	}
	upload("shop-partners", "Shop Partners CA")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("notice"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#notice"); got != "Client CA shop-partners is uploaded." {
		t.Errorf("notice %q", got)
	}
	shop := r.srv.Store().Current().Site("shop.example.com")
	app := r.srv.Store().Current().Site("app.example.com")
	if len(shop.GetCaIds()) != 1 || len(app.GetCaIds()) != 0 {
		t.Fatalf("assigned: shop %v, app %v; want the new CA on shop only", shop.GetCaIds(), app.GetCaIds())
	}
	before := len(r.srv.Store().Current().CAs())
	apiCall(t, r, r.admin, "DELETE", "/v1/sites/shop.example.com", "", nil, nil)
	upload("late", "Late CA")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("sites-error"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#sites-error"); !strings.Contains(got, `site "shop.example.com" was not found`) {
		t.Errorf("sites error %q", got)
	}
	if n := len(r.srv.Store().Current().CAs()); n != before {
		t.Errorf("a refused upload created a CA: %d, want %d", n, before)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("name"))); v != "late" {
		t.Errorf("name kept %q", v)
	}
}
