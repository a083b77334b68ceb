package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// pageProblems finds, on the page shown, what keeps it from being used
// with the keyboard or a screen reader: a control without a label, a
// button or link without a name, a positive tabindex (it breaks the tab
// order), a duplicate id (a label's for= may then point at the wrong
// control), no h1, no document language.
const pageProblems = `(() => {
  const bad = [], ids = {}, short = el => el.outerHTML.slice(0, 120);
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea'))
    if (el.labels.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) bad.push('unlabelled ' + short(el));
  for (const el of document.querySelectorAll('button, a[href]'))
    if (!(el.getAttribute('aria-label') || el.textContent).trim()) bad.push('nameless ' + short(el));
  for (const el of document.querySelectorAll('[tabindex]'))
    if (+el.getAttribute('tabindex') > 0) bad.push('positive tabindex ' + short(el));
  for (const el of document.querySelectorAll('[id]')) {
    if (ids[el.id]) bad.push('duplicate id ' + el.id);
    ids[el.id] = true;
  }
  if (!document.querySelector('h1')) bad.push('no h1');
  if (!document.documentElement.lang) bad.push('no lang attribute');
  return bad;
})()`

// TestBrowserEveryPageIsLabelled opens every page an admin can reach and
// checks each for pageProblems.
func TestBrowserEveryPageIsLabelled(t *testing.T) {
	r, id := siteSetup(t)
	var tok struct {
		Token struct{ ID string }
	}
	apiCall(t, r, r.admin, "POST", "/v1/tokens", "application/json", []byte(`{"name":"ops","role":"ROLE_VIEWER"}`), &tok)
	var deny struct{ ID string }
	apiCall(t, r, r.admin, "POST", "/v1/deny", "application/json", []byte(`{"entry": {"sha256_fingerprint": "`+strings.Repeat("ab", 32)+`", "site": "app.example.com"}}`), &deny)
	apiCall(t, r, r.admin, "POST", "/v1/identities", "application/json", []byte(`{"identity": {"name": "alice"}}`), nil)
	self := testpki.SelfSigned(t, "alice-laptop", testpki.Options{})
	apiCall(t, r, r.admin, "POST", "/v1/identities/alice/certificates", "application/octet-stream", self.PEM(), nil)
	apiCall(t, r, r.admin, "POST", "/v1/issuing-ca", "application/json", []byte(`{}`), nil)
	var issued struct{ Certificate struct{ Serial string } }
	apiCall(t, r, r.admin, "POST", "/v1/issued", "application/json", []byte(`{"identity": "alice"}`), &issued)
	var hook struct{ Webhook struct{ ID string } }
	apiCall(t, r, r.admin, "POST", "/v1/webhooks", "application/json", []byte(`{"webhook": {"url": "https://hooks.example.com/"}}`), &hook)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	for _, p := range []string{"/ui/webhooks", "/ui/webhooks/" + hook.Webhook.ID + "/delete", "/ui/issuing", "/ui/issuing/" + issued.Certificate.Serial + "/revoke", "/ui/identities", "/ui/identities/alice", "/ui/identities/alice/delete",
		"/ui/identities/alice/unbind/" + fingerprintOf(self.Cert), "/ui/cas", "/ui/cas/" + id, "/ui/cas/" + id + "/delete", "/ui/crls", "/ui/tokens",
		"/ui/tokens/" + tok.Token.ID + "/revoke", "/ui/audit", "/ui/sites", "/ui/sites/app.example.com",
		"/ui/sites/app.example.com/delete", "/ui/expiry", "/ui/deny", "/ui/deny/" + deny.ID + "/remove"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(r.base+p), chromedp.WaitReady("body")); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		problems := evaluate[[]string](t, ctx, pageProblems)
		if h := text(t, ctx, "h1"); strings.Contains(h, "404") || strings.Contains(h, "not found") {
			t.Errorf("%s: %q", p, h)
		}
		for _, pr := range problems {
			t.Errorf("%s: %s", p, pr)
		}
	}
	// The sign-in page, signed out.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[action="/ui/signout"] button`)),
		chromedp.WaitVisible(chromedp.ID("token"))); err != nil {
		t.Fatal(err)
	}
	for _, pr := range evaluate[[]string](t, ctx, pageProblems) {
		t.Errorf("sign-in: %s", pr)
	}
}

// tabTo presses Tab until the element with id has the focus (at most
// limit times) and fails the test when it never gets it.
func tabTo(t *testing.T, ctx context.Context, id string, limit int) {
	t.Helper()
	for range limit {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		if evaluate[string](t, ctx, `document.activeElement.id`) == id {
			return
		}
	}
	t.Fatalf("%d presses of Tab never reached #%s", limit, id)
}

// TestBrowserKeyboardOnly signs in, changes the site's mode and saves it
// with the keyboard alone: Tab reaches each control in order, the arrow
// keys change the select, Enter submits.
func TestBrowserKeyboardOnly(t *testing.T) {
	r, _ := siteSetup(t)
	ctx := tab(t)
	// The token field has the focus on arrival.
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/signin"), chromedp.WaitVisible(chromedp.ID("token"))); err != nil {
		t.Fatal(err)
	}
	if f := evaluate[string](t, ctx, `document.activeElement.id`); f != "token" {
		t.Fatalf("the sign-in page focuses %q, want the token field", f)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(r.admin), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("list-heading")),
		chromedp.Navigate(r.base+"/ui/sites/app.example.com"), chromedp.WaitVisible(chromedp.ID("set-mode")),
		chromedp.KeyEvent(kb.Tab)); err != nil {
		t.Fatal(err)
	}
	if first := evaluate[string](t, ctx, `document.activeElement.textContent`); first != "Skip to content" {
		t.Errorf("the first Tab focuses %q, want the skip link", first)
	}
	tabTo(t, ctx, "set-mode", 60)
	var mode string
	for range 3 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowDown)); err != nil {
			t.Fatal(err)
		}
		mode = evaluate[string](t, ctx, `document.getElementById("set-mode").value`)
		if mode == "MODE_ENFORCE" {
			break
		}
	}
	if mode != "MODE_ENFORCE" {
		t.Fatalf("the arrow keys left the mode at %q", mode)
	}
	tabTo(t, ctx, "save", 80)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.ID("notice"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#notice"); got != "Saved: mode." {
		t.Errorf("notice %q", got)
	}
	if m := r.srv.Store().Current().Site("app.example.com").GetSettings().GetMode(); m != pb.Mode_MODE_ENFORCE {
		t.Errorf("store: mode %v", m)
	}
}

// evaluate runs the script js in the page and returns its value.
func evaluate[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}
