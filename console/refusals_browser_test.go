package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestBrowserRefusals: an admin makes a site enforce at the request, then
// adds an HTML page for requests without a certificate and a redirect for
// untrusted ones; the page lists both, and the store holds them.
func TestBrowserRefusals(t *testing.T) {
	r := startServer(t)
	createSite(t, r, editHost, 90*24*time.Hour)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.base+"/ui/sites/"+editHost),
		chromedp.WaitVisible(chromedp.ID("refusals-empty")),
		chromedp.SetValue(chromedp.ID("set-mode"), "MODE_ENFORCE"),
		chromedp.SetValue(chromedp.ID("set-verify-at"), "VERIFY_AT_REQUEST"),
		chromedp.Click(chromedp.ID("save")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#notice", "Saved: mode, verify_at.")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("refusal-reasons"), "none"),
		chromedp.SetValue(chromedp.ID("refusal-content-type"), "text/html"),
		chromedp.SendKeys(chromedp.ID("refusal-body"), "<h1>Enroll first ({reason})</h1>"),
		chromedp.Click(chromedp.ID("refusal-add-save")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#refusals-notice", "Refusal saved.")
	// Load the page again without the notice: the next one must come from
	// the page the second save loads.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.base+"/ui/sites/"+editHost),
		chromedp.WaitVisible(chromedp.ID("refusal-list")),
		chromedp.SendKeys(chromedp.ID("refusal-reasons"), "untrusted, expired"),
		chromedp.Click(chromedp.ID("refusal-answer-redirect")),
		chromedp.SendKeys(chromedp.ID("refusal-redirect"), "https://enroll.example.com/?why={reason}"),
		chromedp.Click(chromedp.ID("refusal-add-save")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#refusals-notice", "Refusal saved.")
	rows := text(t, ctx, "#refusal-list tbody")
	for _, want := range []string{"none", "text/html", "<h1>Enroll first ({reason})</h1>", "expired, untrusted", "redirect (302) to https://enroll.example.com/?why={reason}"} {
		if !strings.Contains(rows, want) {
			t.Errorf("the refusals listed lack %q: %q", want, rows)
		}
	}
	set := siteNow(r).GetSettings()
	if set.GetVerifyAt() != pb.VerifyAt_VERIFY_AT_REQUEST || len(set.GetRefusals()) != 2 ||
		set.GetRefusals()[0].GetPage().GetContentType() != "text/html" || set.GetRefusals()[1].GetRedirectUrl() != "https://enroll.example.com/?why={reason}" {
		t.Errorf("stored %v", set)
	}
}
