package console_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestBrowserSitePolicy: an admin pins a certificate by its fingerprint
// and another from its file, both for the identity alice, adds a rule
// naming alice, and removes the first pin; the page shows what the API
// holds.
func TestBrowserSitePolicy(t *testing.T) {
	r, _ := siteSetup(t)
	leaf := testpki.NewRoot(t, "Partner Root CA", testpki.Options{}).Leaf(t, "alice laptop", testpki.Options{})
	certPath := filepath.Join(t.TempDir(), "alice.pem")
	if err := os.WriteFile(certPath, leaf.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.Cert.Raw)
	fileFP, typedFP := hex.EncodeToString(sum[:]), strings.Repeat("0F:", 31)+"0F"
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.base+"/ui/sites/app.example.com"),
		chromedp.WaitVisible(chromedp.ID("pin-add")),
		chromedp.SendKeys(chromedp.ID("pin-fingerprint"), typedFP),
		chromedp.SendKeys(chromedp.ID("pin-identity"), "alice"),
		chromedp.Click(chromedp.ID("pin-add-save")),
		chromedp.WaitVisible(chromedp.ID("policy-notice")),
		chromedp.SetUploadFiles(chromedp.ID("pin-file"), []string{certPath}),
		chromedp.SendKeys(chromedp.ID("pin-identity"), "alice"),
		chromedp.Click(chromedp.ID("pin-add-save")),
		chromedp.WaitVisible(chromedp.CSS(`#pins tbody tr:nth-child(2)`)),
		chromedp.SendKeys(chromedp.ID("rule-path-prefix"), "/admin"),
		chromedp.SendKeys(chromedp.ID("rule-identities"), "alice"),
		chromedp.SendKeys(chromedp.ID("rule-subjects"), "CN=ops,O=Example"),
		chromedp.Click(chromedp.ID("rule-save")),
		chromedp.WaitVisible(chromedp.ID("rules")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#policy-notice"); got != "Access rule saved." {
		t.Errorf("notice %q", got)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#pins tbody tr:first-child button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#pins tbody tr:nth-child(2)`)),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#policy-notice"); got != "Pin removed." {
		t.Errorf("notice %q", got)
	}
	var held struct {
		Pins []struct {
			SHA256Fingerprint string `json:"sha256_fingerprint"`
			Identity          string
		}
		AccessRules []struct {
			PathPrefix string   `json:"path_prefix"`
			Subjects   []string `json:"subjects"`
			Identities []string `json:"identities"`
		} `json:"access_rules"`
	}
	apiCall(t, r, r.admin, "GET", "/v1/sites/app.example.com/settings", "application/json", nil, &held)
	if len(held.Pins) != 1 || held.Pins[0].SHA256Fingerprint != fileFP || held.Pins[0].Identity != "alice" ||
		len(held.AccessRules) != 1 || held.AccessRules[0].PathPrefix != "/admin" || strings.Join(held.AccessRules[0].Identities, ",") != "alice" {
		t.Fatalf("the API holds %+v", held)
	}
	if got := text(t, ctx, "#pins tbody"); !strings.Contains(got, fileFP) || !strings.Contains(got, "alice") || strings.Contains(got, "0f0f") {
		t.Errorf("pins shown %q", got)
	}
	if got := text(t, ctx, "#identities"); !strings.Contains(got, "alice: 1 pinned certificate; named by the rule /admin") {
		t.Errorf("identities shown %q", got)
	}
	if got := text(t, ctx, "#rules tbody"); !strings.Contains(got, "/admin") || !strings.Contains(got, "CN=ops,O=Example") || !strings.Contains(got, "alice") {
		t.Errorf("rules shown %q", got)
	}
}
