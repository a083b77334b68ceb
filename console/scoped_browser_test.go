package console_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestBrowserScopedToken: a site-manager token scoped to one of two sites
// sees only that site in the list; its page offers the settings form, the
// CA page no upload form and the navigation no audit log or tokens. The
// other site's page, and a site that does not exist, show the API's
// refusal alike; the token's own settings form forged to post to the
// other site is refused by the API, and that site is unchanged.
func TestBrowserScopedToken(t *testing.T) {
	r := startServer(t)
	for _, h := range []string{"mine.example.com", "other.example.com"} {
		createSite(t, r, h, 90*24*time.Hour)
	}
	body, err := json.Marshal(map[string]any{"name": "mine-ops", "role": "ROLE_SITE_MANAGER", "sites": []string{"mine.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Secret string }
	apiCall(t, r, r.admin, "POST", "/v1/tokens", "application/json", body, &tok)
	ctx := tab(t)
	signIn(t, ctx, r, tok.Secret) // lands on the client CA page
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`#upload, input[type=file], nav a[href="/ui/audit"], nav a[href="/ui/tokens"]`); n != 0 {
		t.Errorf("the CA page offers a site-manager %d upload or navigation controls it may not use", n)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/sites"), chromedp.WaitVisible(chromedp.ID("site-list"))); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#site-list tbody th")].map(th => th.innerText)`))
	if err != nil || len(rows) != 1 || rows[0] != "mine.example.com" || count("#create") != 0 {
		t.Fatalf("sites list %q (%v), create forms %d", rows, err, count("#create"))
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#site-list a[href="/ui/sites/mine.example.com"]`)),
		chromedp.WaitVisible(chromedp.ID("save"))); err != nil {
		t.Fatal(err)
	}
	if count("#settings-readonly") != 0 {
		t.Error("its own site's settings are offered read-only")
	}
	for _, host := range []string{"other.example.com", "nope.example.com"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/sites/"+host), chromedp.WaitVisible(chromedp.ID("page-error"))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ctx, "#page-error"); !strings.Contains(got, "role site-manager may not call GetSite on "+host+" (token is scoped to mine.example.com)") || count("#settings") != 0 {
			t.Errorf("%s: refusal %q, %d settings forms", host, got, count("#settings"))
		}
	}
	forgeOtherSettings(t, ctx, r)
	if got := text(t, ctx, "#page-error"); !strings.Contains(got, "may not call") || !strings.Contains(got, "other.example.com (token is scoped to mine.example.com)") {
		t.Errorf("forged save: refusal %q", got)
	}
	if m := r.srv.Store().Current().Site("other.example.com").GetSettings().GetMode(); m != pb.Mode_MODE_DISABLED {
		t.Errorf("other.example.com's mode is %v after the forged save", m)
	}
}

// forgeOtherSettings goes to the token's own site page and posts its
// settings form to other.example.com instead, with a valid CSRF token for
// that path (as only a test can make one), and waits for the answer.
func forgeOtherSettings(t *testing.T, ctx context.Context, r *running) {
	t.Helper()
	const action = "/ui/sites/other.example.com/settings"
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/sites/mine.example.com"), chromedp.WaitVisible(chromedp.ID("save"))); err != nil {
		t.Fatal(err)
	}
	forge := `(() => { const f = document.getElementById("settings");
		f.action = ` + strconv.Quote(action) + `; f.querySelector("[name=csrf]").value = ` + strconv.Quote(csrfFor(t, ctx, r, action)) + `;
		f.querySelector("#set-mode").value = "MODE_ENFORCE"; f.submit(); return true; })()`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](forge)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("page-error"))); err != nil {
		t.Fatal(err)
	}
}
