package console_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserWebhooks: an admin adds a webhook for two event types from
// the Webhooks page and sees the picked secret once; the list then
// shows the webhook and not the secret.
func TestBrowserWebhooks(t *testing.T) {
	r, _ := siteSetup(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/webhooks"]`)),
		chromedp.WaitVisible(chromedp.ID("webhook-create")),
		chromedp.SendKeys(chromedp.ID("webhook-url"), "https://hooks.example.com/mtlsgate"),
		chromedp.Click(chromedp.ID("event-certificate-expiring")),
		chromedp.Click(chromedp.ID("event-certificate-revoked")),
		chromedp.SendKeys(chromedp.ID("webhook-window"), "336h"),
		chromedp.SendKeys(chromedp.ID("webhook-description"), "PKI on-call"),
		chromedp.Click(chromedp.ID("webhook-create-button")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#secret-heading", "Copy the secret now")
	secret := evaluate[string](t, ctx, `document.getElementById("secret").value`)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(secret) {
		t.Fatalf("the secret shown: %q", secret)
	}
	for _, pr := range evaluate[[]string](t, ctx, pageProblems) {
		t.Errorf("the answer page: %s", pr)
	}
	hooks := webhooksNow(r)
	if len(hooks) != 1 || strings.Join(hooks[0].GetEvents(), ",") != "certificate.expiring,certificate.revoked" {
		t.Fatalf("stored %v", hooks)
	}
	// The list (read over HTTP: the test ends on the answer page, the
	// screenshot in the docs) shows the webhook, not the secret.
	list := newUIClient(t, r, r.admin).getOK("/ui/webhooks")
	if !strings.Contains(rowOf(list, "webhook-"+hooks[0].GetId()), "certificate.expiring, certificate.revoked") || strings.Contains(list, secret) {
		t.Error("the list lacks the webhook or shows the secret again")
	}
}
