package console_test

import (
	"context"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// crlFile uploads a fresh CA to r's store (as a client CA named name) and
// writes a CRL of it, PEM, with one revoked serial; it returns its path.
func crlFile(t *testing.T, r *running, name string) string {
	t.Helper()
	ca := testpki.NewRoot(t, name, testpki.Options{})
	if _, err := r.srv.Store().AddCA(context.Background(), store.Actor{Action: "test"}, store.NewCA{Name: name, Bundle: ca.PEM()}); err != nil {
		t.Fatal(err)
	}
	der := ca.CRL(t, 7, time.Now().Add(-time.Minute), time.Now().Add(7*24*time.Hour), big.NewInt(42))
	p := filepath.Join(t.TempDir(), name+".crl")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// uploadCRL signs in as admin and uploads a CRL of a fresh CA with the
// file picker; it waits for the list.
func uploadCRL(t *testing.T, ctx context.Context, r *running) {
	t.Helper()
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/crls"]`)),
		chromedp.WaitVisible(chromedp.ID("crl-empty")),
		chromedp.SetUploadFiles(chromedp.ID("crl"), []string{crlFile(t, r, "Partner Issuing CA")}),
		chromedp.Click(chromedp.CSS("#crl-upload button")),
		chromedp.WaitVisible(chromedp.ID("crl-list")),
	); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserUploadCRL: an admin uploads a CRL with the file picker and
// sees it listed, fresh, as uploaded.
func TestBrowserUploadCRL(t *testing.T) {
	r := startServer(t)
	ctx := tab(t)
	uploadCRL(t, ctx, r)
	row := text(t, ctx, "#crl-list tbody tr")
	for _, want := range []string{"CN=Partner Issuing CA", "\t7\t", "fresh", "uploaded"} {
		if !strings.Contains(row, want) {
			t.Errorf("CRL row %q lacks %q", row, want)
		}
	}
	if n := len(r.srv.Store().Current().CRLs()); n != 1 {
		t.Errorf("store holds %d CRLs, want 1", n)
	}
}

// TestBrowserAuditFilter: after a CRL upload, the audit log filtered by
// action CreateCRL shows the upload and nothing else.
func TestBrowserAuditFilter(t *testing.T) {
	r := startServer(t)
	ctx := tab(t)
	uploadCRL(t, ctx, r)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/audit"]`)),
		chromedp.WaitVisible(chromedp.ID("audit-list")),
		chromedp.SendKeys(chromedp.ID("f-action"), "CreateCRL"),
		chromedp.Click(chromedp.CSS("#audit-filter button")),
		chromedp.WaitVisible(chromedp.CSS(`#f-action[value="CreateCRL"]`)),
	); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#audit-list tbody tr")].map(r => r.innerText)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !strings.Contains(rows[0], "CreateCRL") || !strings.Contains(rows[0], "ok") {
		t.Errorf("filtered audit rows: %q", rows)
	}
}

// TestBrowserTokens: an admin creates a viewer token, sees its secret once
// (not cached, not on the list), revokes it through the confirmation
// page, and signing in with it then fails.
func TestBrowserTokens(t *testing.T) {
	r := startServer(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/crls"]`)),
		chromedp.WaitVisible(chromedp.ID("crl-empty")),
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/tokens"]`)),
		chromedp.WaitVisible(chromedp.ID("token-create")),
		chromedp.SendKeys(chromedp.ID("token-name"), "auditor"),
		chromedp.SetValue(chromedp.ID("token-role"), "viewer"),
		chromedp.Click(chromedp.CSS("#token-create button")),
		chromedp.WaitVisible(chromedp.ID("secret")),
	); err != nil {
		t.Fatal(err)
	}
	secret, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("secret")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text(t, ctx, "#secret-heading"), "Copy the secret now") || len(secret) < 20 {
		t.Fatalf("secret page: heading %q, secret %d bytes", text(t, ctx, "#secret-heading"), len(secret))
	}
	signInWith(t, r, secret) // the secret works
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("back")), chromedp.WaitVisible(chromedp.ID("token-list"))); err != nil {
		t.Fatal(err)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, secret) {
		t.Fatal("the token list shows the secret again")
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#token-list a.revoke[href*="/revoke"]:not([href*="`+adminID(t, r)+`"])`)),
		chromedp.WaitVisible(chromedp.ID("confirm-revoke")),
		chromedp.Click(chromedp.ID("confirm-revoke")),
		chromedp.WaitVisible(chromedp.ID("notice")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#notice"); !strings.Contains(got, "revoked") {
		t.Errorf("notice %q", got)
	}
	// Signing in with the revoked token fails (in another browser context).
	other := tab(t)
	if err := chromedp.Do(other,
		chromedp.Navigate(r.base+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), secret), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("token-error")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, other, "#token-error"); !strings.Contains(got, "refused") {
		t.Errorf("sign-in with a revoked token: %q", got)
	}
}

// adminID is the id of r's admin token.
func adminID(t *testing.T, r *running) string {
	t.Helper()
	for _, tok := range r.srv.Store().Current().Tokens() {
		if tok.GetRole() == pb.Role_ROLE_ADMIN {
			return tok.GetId()
		}
	}
	t.Fatal("no admin token")
	return ""
}

// signInWith checks that token signs in, in a browser context of its own.
func signInWith(t *testing.T, r *running, token string) {
	t.Helper()
	signIn(t, tab(t), r, token)
}

// TestBrowserViewerAccount: a viewer sees the CRL list without an upload
// form and no Tokens or Audit entry, and the token page shows the API's
// refusal.
func TestBrowserViewerAccount(t *testing.T) {
	r := startServer(t)
	_, viewer, err := r.srv.Store().CreateToken(context.Background(), store.Actor{Action: "test"}, "auditor", pb.Role_ROLE_VIEWER, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := tab(t)
	signIn(t, ctx, r, viewer)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/ui/crls"]`)), chromedp.WaitVisible(chromedp.ID("crl-empty"))); err != nil {
		t.Fatal(err)
	}
	q := `document.querySelectorAll('#crl-upload, input[type=file], a[href="/ui/tokens"], a[href="/ui/audit"]').length`
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](q)); err != nil || n != 0 {
		t.Fatalf("viewer is offered %d CRL upload, token or audit controls (%v)", n, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/tokens"), chromedp.WaitVisible(chromedp.ID("page-error"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#page-error"); !strings.Contains(got, "role viewer may not call ListTokens") {
		t.Errorf("token page for a viewer: %q", got)
	}
	// A forged form creating an admin token, with a valid CSRF token of the
	// viewer's session, is refused by the API.
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/crls"), chromedp.WaitVisible(chromedp.ID("crl-empty"))); err != nil {
		t.Fatal(err)
	}
	forge := `(() => {
		const f = document.createElement("form"); f.method = "post"; f.action = "/ui/tokens";
		for (const [n, v] of [["csrf", ` + strconv.Quote(csrfFor(t, ctx, r, "/ui/tokens")) + `], ["name", "mine"], ["role", "admin"]]) {
			const i = document.createElement("input"); i.name = n; i.value = v; f.append(i);
		}
		document.body.append(f); f.submit(); return true; })()`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](forge)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#page-error`))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#page-error"); !strings.Contains(got, "role viewer may not call CreateToken") {
		t.Errorf("forged token creation: %q", got)
	}
	if n := len(r.srv.Store().Current().Tokens()); n != 2 {
		t.Errorf("store holds %d tokens after a viewer's forged creation, want 2", n)
	}
	// Go back to the CRL page for the screenshot.
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/crls"), chromedp.WaitVisible(chromedp.ID("crl-empty"))); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserBadCRL: a file that is no CRL is refused, with the API's
// message next to the file field.
func TestBrowserBadCRL(t *testing.T) {
	r := startServer(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	bad := filepath.Join(t.TempDir(), "notes.crl")
	if err := os.WriteFile(bad, []byte("this is not a CRL\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.base+"/ui/crls"),
		chromedp.SetUploadFiles(chromedp.ID("crl"), []string{bad}),
		chromedp.Click(chromedp.CSS("#crl-upload button")),
		chromedp.WaitVisible(chromedp.ID("crl-error")),
	); err != nil {
		t.Fatal(err)
	}
	got := text(t, ctx, "#crl-error")
	_, want := r.srv.Store().CreateCRL(context.Background(), store.Actor{}, []byte("this is not a CRL\n"))
	if want == nil || got == "" || !strings.Contains(want.Error(), got) {
		t.Errorf("field error %q is not the API's message (%v)", got, want)
	}
	if v, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("crl"), "aria-describedby")); v.Value != "crl-error" {
		t.Errorf("file field not described by its error: %+v", v)
	}
}
