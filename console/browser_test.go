package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/mtlsgate/mtlsgate/console"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestMain runs the tests with one browser, closes it, and fails when a
// goroutine outlives them.
func TestMain(m *testing.M) {
	code := m.Run()
	closeBrowser()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// TestBrowserUploadCA: sign in with the admin token, upload a CA with the
// file picker, see it listed; sign out.
func TestBrowserUploadCA(t *testing.T) {
	r := startServer(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("ca-empty")),
		chromedp.SendKeys(chromedp.ID("name"), "partner-root"),
		chromedp.SetUploadFiles(chromedp.ID("bundle"), []string{caFile(t, "Partner Root CA")}),
		chromedp.Click(chromedp.CSS("#upload button")),
		chromedp.WaitVisible(chromedp.ID("ca-list")),
	); err != nil {
		t.Fatal(err)
	}
	// An admin's navigation offers Tokens and the audit log on every page.
	if nav := text(t, ctx, "nav[aria-label=Sections]"); !strings.Contains(nav, "Tokens") || !strings.Contains(nav, "Audit log") {
		t.Errorf("navigation on the CA page: %q", nav)
	}
	row := text(t, ctx, "#ca-list tbody tr")
	for _, want := range []string{"partner-root", "CN=Partner Root CA", "expires soon"} {
		if !strings.Contains(row, want) {
			t.Errorf("CA row %q lacks %q", row, want)
		}
	}
	if n := len(r.srv.Store().Current().CAs()); n != 1 {
		t.Errorf("store holds %d CAs, want 1", n)
	}
	// The audit log names the browser, not the in-process connection.
	evs, _, err := r.srv.Store().ListAudit(context.Background(), store.AuditQuery{Limit: 10})
	if err != nil || len(evs) == 0 || evs[0].GetAction() != "CreateClientCA" || !strings.HasPrefix(evs[0].GetRemoteAddr(), "console 127.0.0.1:") {
		t.Errorf("audit: %v %v", evs, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".signout button"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#notice", "You are signed out.")
	// The cookie is gone: the list sends the browser to sign-in.
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/cas"), chromedp.WaitVisible(chromedp.ID("token"))); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserBadUpload: a file that is no certificate is refused, with the
// API's message next to the file field.
func TestBrowserBadUpload(t *testing.T) {
	r := startServer(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	bad := filepath.Join(t.TempDir(), "notes.pem")
	if err := os.WriteFile(bad, []byte("this is not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("name"), "notes"),
		chromedp.SetUploadFiles(chromedp.ID("bundle"), []string{bad}),
		chromedp.Click(chromedp.CSS("#upload button")),
		chromedp.WaitVisible(chromedp.ID("bundle-error")),
	); err != nil {
		t.Fatal(err)
	}
	got := text(t, ctx, "#bundle-error")
	_, want := r.srv.Store().AddCA(context.Background(), store.Actor{}, store.NewCA{Name: "notes", Bundle: []byte("this is not a certificate\n")})
	if want == nil || !strings.Contains(want.Error(), got) {
		t.Errorf("field error %q is not the API's message (%v)", got, want)
	}
	if v, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("bundle"), "aria-describedby")); v.Value != "bundle-error" {
		t.Errorf("file field not described by its error: %+v", v)
	}
}

// TestBrowserViewer: a viewer sees the list without an upload form, and a
// forged upload from its session (with a valid CSRF token) is refused by
// the API's own permission check.
func TestBrowserViewer(t *testing.T) {
	r := startServer(t)
	_, viewer, err := r.srv.Store().CreateToken(context.Background(), store.Actor{Action: "test"}, "auditor", pb.Role_ROLE_VIEWER, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := tab(t)
	signIn(t, ctx, r, viewer)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#upload, input[type=file]").length`)); err != nil || n != 0 {
		t.Fatalf("viewer is offered %d upload controls (%v)", n, err)
	}
	csrf := csrfFor(t, ctx, r, "/ui/cas")
	forge := `(() => {
		const f = document.createElement("form");
		f.method = "post"; f.action = "/ui/cas"; f.enctype = "multipart/form-data";
		const add = (n, v) => { const i = document.createElement("input"); i.name = n; i.value = v; f.append(i); };
		add("csrf", ` + strconv.Quote(csrf) + `); add("name", "forged");
		const file = document.createElement("input"); file.type = "file"; file.name = "bundle";
		const dt = new DataTransfer(); dt.items.add(new File([` + strconv.Quote(readFile(t, caFile(t, "Forged CA"))) + `], "ca.pem"));
		file.files = dt.files; f.append(file); document.body.append(f); f.submit(); return true; })()`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](forge)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("page-error"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#page-error"); !strings.Contains(got, "role viewer may not call CreateClientCA") {
		t.Errorf("refusal shown: %q", got)
	}
	if n := len(r.srv.Store().Current().CAs()); n != 0 {
		t.Errorf("store holds %d CAs after a viewer's forged upload", n)
	}
}

// TestBrowserCrossSiteForm: a page of another site that auto-submits a form
// to the console is refused, though the user is signed in.
func TestBrowserCrossSiteForm(t *testing.T) {
	r := startServer(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><body onload="document.forms[0].submit()">
<form method="post" action="%s/ui/signout"><input name="csrf" value="x"></form></body>`, r.base)
	}))
	defer evil.Close()
	attacker := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site
	if err := chromedp.Do(ctx, chromedp.Navigate(attacker), chromedp.WaitVisible(chromedp.CSS("pre"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "pre"); !strings.Contains(got, "cross-site") {
		t.Errorf("cross-site post answered %q", got)
	}
}

// TestBrowserExpiredSession: a session idle past its limit is sent to
// sign-in with the reason.
func TestBrowserExpiredSession(t *testing.T) {
	r := startServer(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	ring, err := seal.LoadFile(filepath.Join(r.data, "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	then := time.Now().Add(-console.DefaultIdleTimeout - time.Minute)
	v, err := console.SealTestSession(ring, r.admin, then, then)
	if err != nil {
		t.Fatal(err)
	}
	secure, httpOnly := true, true
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: console.CookieName, Value: v,
		URL: r.base + "/ui/", Path: "/ui/", Secure: &secure, HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteStrict}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/cas"), chromedp.WaitVisible(chromedp.ID("notice"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#notice"); !strings.Contains(got, "expired") {
		t.Errorf("notice %q", got)
	}
}

// csrfFor is the CSRF token of action in the tab's session (read from its
// cookie with the server's keyring, as only a test can).
func csrfFor(t *testing.T, ctx context.Context, r *running, action string) string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{r.base + "/ui/"}})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.LoadFile(filepath.Join(r.data, "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == console.CookieName {
			tok, err := console.CSRFTokenOf(ring, c.Value, action)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
