package console_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestBrowserDenylist: an admin adds an entry from a certificate file for
// a site, sees it in the list, and removes it through the confirmation
// page; an entry for every site, added through the API, stays.
func TestBrowserDenylist(t *testing.T) {
	r, _ := siteSetup(t)
	apiCall(t, r, r.admin, "POST", "/v1/deny", "application/json", []byte(`{"entry": {"sha256_fingerprint": "`+
		strings.Repeat("ab", 32)+`", "comment": "partner cut off", "expires_at": "`+
		time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339)+`"}}`), nil)
	alice := testpki.NewRoot(t, "Laptops CA", testpki.Options{}).Leaf(t, "alice", testpki.Options{})
	sum := sha256.Sum256(alice.Cert.Raw)
	fp := hex.EncodeToString(sum[:])
	p := filepath.Join(t.TempDir(), "alice.pem")
	if err := os.WriteFile(p, alice.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/deny"]`)),
		chromedp.WaitVisible(chromedp.ID("deny-add")),
		chromedp.SetUploadFiles(chromedp.ID("deny-cert"), []string{p}),
		chromedp.SetValue(chromedp.ID("deny-site"), "app.example.com"),
		chromedp.SendKeys(chromedp.ID("deny-expires"), "720h"),
		chromedp.SendKeys(chromedp.ID("deny-comment"), "laptop stolen"),
		chromedp.Click(chromedp.ID("deny-add-button")),
	); err != nil {
		t.Fatal(err)
	}
	var id string
	for deadline := time.Now().Add(10 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		id = denyOf(r, fp).GetId()
	}
	if id == "" {
		t.Fatal("the entry was not added")
	}
	if e := denyOf(r, fp); e.GetSite() != "app.example.com" || e.GetComment() != "laptop stolen" || e.GetExpiresAt() == nil {
		t.Errorf("entry %v", e)
	}
	waitText(t, ctx, "#notice", "Entry "+id+" is added.")
	row := text(t, ctx, chromedp.CSS("#deny-"+id))
	for _, want := range []string{fp, "app.example.com", "laptop stolen", time.Now().Add(720 * time.Hour).UTC().Format("2006-01-02")} {
		if !strings.Contains(row, want) {
			t.Errorf("the row %q lacks %q", row, want)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#deny-"+id+" a.remove"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#confirm-remove", "Remove")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("confirm-remove"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#notice", "Entry "+id+" is removed.")
	if denyOf(r, fp) != nil {
		t.Error("the entry is still in the store")
	}
	if rows := text(t, ctx, "#deny-list tbody"); strings.Contains(rows, fp) || !strings.Contains(rows, "partner cut off") {
		t.Errorf("the list after the removal: %q", rows)
	}
}
