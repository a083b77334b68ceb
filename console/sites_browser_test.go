package console_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// apiCall calls the JSON API of r as token and decodes the answer into out.
func apiCall(t *testing.T, r *running, token, method, path, ctype string, body []byte, out any) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(r.data, "ca.pem")))) {
		t.Fatal("no internal CA certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(method, r.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", ctype)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
}

// uploadCA uploads the CA certificate file p as name through the API and
// returns its id.
func uploadCA(t *testing.T, r *running, name, p string) string {
	t.Helper()
	var ca struct{ ID string }
	apiCall(t, r, r.admin, "POST", "/v1/cas?name="+url.QueryEscape(name), "application/x-pem-file", []byte(readFile(t, p)), &ca)
	return ca.ID
}

// createSite creates host through the API with a fresh server certificate
// valid for life.
func createSite(t *testing.T, r *running, host string, life time.Duration) {
	t.Helper()
	cert, key := serverCert(t, host, life)
	body, err := json.Marshal(map[string]any{"site": map[string]any{"hostname": host, "origin_url": "http://127.0.0.1:8080",
		"server_certificate": map[string]any{"inline": map[string]string{"certificate_chain_pem": cert, "private_key_pem": key}}}})
	if err != nil {
		t.Fatal(err)
	}
	apiCall(t, r, r.admin, "POST", "/v1/sites", "application/json", body, nil)
}

// serverCert is a self-signed certificate for host and its key, in PEM.
func serverCert(t *testing.T, host string, life time.Duration) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(life),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// siteSetup starts a server with the site app.example.com and the CA
// partner-root (unassigned); it returns the CA's id.
func siteSetup(t *testing.T) (*running, string) {
	t.Helper()
	r := startServer(t)
	id := uploadCA(t, r, "partner-root", caFile(t, "Partner Root CA"))
	createSite(t, r, "app.example.com", 90*24*time.Hour)
	return r, id
}

// TestBrowserSiteAdmin: an admin opens the site from the list, assigns a
// CA and sets mode=enforce; the page and the store show both, and the
// update mask named mode only.
func TestBrowserSiteAdmin(t *testing.T) {
	r, id := siteSetup(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.base+"/ui/sites"),
		chromedp.Click(chromedp.CSS(`#site-list a[href="/ui/sites/app.example.com"]`)),
		chromedp.WaitVisible(chromedp.ID("site-cas-empty")),
		chromedp.SetValue(chromedp.ID("assign-ca"), id),
		chromedp.Click(chromedp.CSS("#assign button")),
		chromedp.WaitVisible(chromedp.ID("site-cas")),
	); err != nil {
		t.Fatal(err)
	}
	if row := text(t, ctx, "#site-cas tbody tr"); !strings.Contains(row, "partner-root") || !strings.Contains(row, "expires soon") {
		t.Errorf("assigned CA row %q", row)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("set-mode"), "MODE_ENFORCE"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("notice")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#notice"); got != "Saved: mode." {
		t.Errorf("notice %q, want the mask mode only", got)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("set-mode"))); v != "MODE_ENFORCE" {
		t.Errorf("mode shown %q", v)
	}
	site := r.srv.Store().Current().Site("app.example.com")
	if site.GetSettings().GetMode() != pb.Mode_MODE_ENFORCE || len(site.GetCaIds()) != 1 || site.GetCaIds()[0] != id {
		t.Errorf("store: mode %v, CAs %v", site.GetSettings().GetMode(), site.GetCaIds())
	}
	// The live status: in Envoy's configuration, its policy built, no NACK.
	if got := text(t, ctx, "#site-status"); strings.Contains(got, "left out") || strings.Contains(got, "failed") || !strings.Contains(got, "none") {
		t.Errorf("status %q", got)
	}
}

// TestBrowserSiteBadSetting: a grace the API refuses shows the API's
// message next to that field, with every input kept and nothing saved.
func TestBrowserSiteBadSetting(t *testing.T) {
	r, _ := siteSetup(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	grace := chromedp.ID("set-revocation-stale-crl-grace")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.base+"/ui/sites/app.example.com"),
		chromedp.WaitVisible(chromedp.ID("settings")),
		chromedp.SetValue(chromedp.ID("set-mode"), "MODE_PERMISSIVE"),
		chromedp.SetValue(grace, "999h"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("set-revocation-stale-crl-grace-error")),
	); err != nil {
		t.Fatal(err)
	}
	got := text(t, ctx, "#set-revocation-stale-crl-grace-error")
	_, want := r.srv.Store().UpdateSettings(context.Background(), store.Actor{}, "app.example.com",
		&pb.ClientCertSettings{Revocation: &pb.Revocation{StaleCrlGrace: durationpb.New(999 * time.Hour)}},
		[]string{"revocation.stale_crl_grace"})
	if want == nil || !strings.Contains(want.Error(), got) || !strings.Contains(got, "stale_crl_grace") {
		t.Errorf("field error %q is not the API's message (%v)", got, want)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(grace)); v != "999h" {
		t.Errorf("grace input not kept: %q", v)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("set-mode"))); v != "MODE_PERMISSIVE" {
		t.Errorf("mode input not kept: %q", v)
	}
	if m := r.srv.Store().Current().Site("app.example.com").GetSettings().GetMode(); m != pb.Mode_MODE_DISABLED {
		t.Errorf("store mode %v after a refused save", m)
	}
}

// TestBrowserSiteViewer: a viewer sees the settings read-only, without a
// save, assign or unassign control; re-enabling the form in the page and
// posting it gets the API's refusal.
func TestBrowserSiteViewer(t *testing.T) {
	r, id := siteSetup(t)
	apiCall(t, r, r.admin, "POST", "/v1/sites/app.example.com/assign", "application/json", []byte(`{"ca_ids":["`+id+`"]}`), nil)
	_, viewer, err := r.srv.Store().CreateToken(context.Background(), store.Actor{Action: "test"}, "auditor", pb.Role_ROLE_VIEWER, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := tab(t)
	signIn(t, ctx, r, viewer)
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/sites/app.example.com"), chromedp.WaitVisible(chromedp.ID("settings-readonly"))); err != nil {
		t.Fatal(err)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#save, #assign, #site-cas form, #settings button").length`))
	if err != nil || n != 0 {
		t.Fatalf("viewer is offered %d controls (%v)", n, err)
	}
	if off, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#set-mode").matches(":disabled")`)); !off {
		t.Error("the mode control is not read-only")
	}
	forge := `(() => { const f = document.getElementById("settings");
		f.querySelector("fieldset").disabled = false; f.querySelector("#set-mode").value = "MODE_ENFORCE";
		f.submit(); return true; })()`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](forge)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("page-error"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#page-error"); !strings.Contains(got, "role viewer may not call UpdateSiteSettings") {
		t.Errorf("refusal shown: %q", got)
	}
	if m := r.srv.Store().Current().Site("app.example.com").GetSettings().GetMode(); m != pb.Mode_MODE_DISABLED {
		t.Errorf("store mode %v after a viewer's forged save", m)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("set-mode"))); v != "MODE_DISABLED" {
		t.Errorf("after the refusal the page shows mode %q, not the one in force", v)
	}
}

// TestBrowserExpiry: the expiry page lists the CA that expires in 10 days
// before the server certificate of 90, marked soon.
func TestBrowserExpiry(t *testing.T) {
	r, _ := siteSetup(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/expiry"), chromedp.WaitVisible(chromedp.ID("expiry-list"))); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#expiry-list tbody tr")].map(r => r.innerText)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || !strings.Contains(rows[0], "partner-root") || !strings.Contains(rows[0], "soon") ||
		!strings.Contains(rows[1], "app.example.com") || strings.Contains(rows[1], "soon") {
		t.Errorf("expiry rows %q", rows)
	}
}

// TestBrowserCreateSite: an admin creates a site from the sites list by
// uploading a certificate and key; a certificate that does not cover the
// hostname is refused with the API's message next to the certificate
// field, the typed fields kept.
func TestBrowserCreateSite(t *testing.T) {
	r := startServer(t)
	cert, key := serverCert(t, "shop.example.com", 90*24*time.Hour)
	dir := t.TempDir()
	cp, kp := filepath.Join(dir, "shop.pem"), filepath.Join(dir, "shop.key")
	for p, b := range map[string]string{cp: cert, kp: key} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	host := chromedp.ID("new-hostname")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.base+"/ui/sites"),
		chromedp.WaitVisible(chromedp.ID("create")),
		chromedp.SendKeys(host, "other.example.com"),
		chromedp.SendKeys(chromedp.ID("new-origin-url"), "http://127.0.0.1:8080"),
		chromedp.SetUploadFiles(chromedp.ID("new-cert"), []string{cp}),
		chromedp.SetUploadFiles(chromedp.ID("new-key"), []string{kp}),
		chromedp.Click(chromedp.CSS("#create button")),
		chromedp.WaitVisible(chromedp.ID("new-cert-error")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#new-cert-error"); !strings.Contains(got, "does not cover other.example.com") {
		t.Errorf("certificate field error %q", got)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("new-origin-url"))); v != "http://127.0.0.1:8080" {
		t.Errorf("origin not kept: %q", v)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(host, "shop.example.com"),
		chromedp.SetUploadFiles(chromedp.ID("new-cert"), []string{cp}),
		chromedp.SetUploadFiles(chromedp.ID("new-key"), []string{kp}),
		chromedp.Click(chromedp.CSS("#create button")),
		chromedp.WaitVisible(chromedp.ID("site-facts")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "h1"); got != "shop.example.com" {
		t.Errorf("page %q", got)
	}
	if r.srv.Store().Current().Site("shop.example.com") == nil {
		t.Error("the site is not in the store")
	}
	// The list links it, with its mode and health.
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/sites"), chromedp.WaitVisible(chromedp.ID("site-list"))); err != nil {
		t.Fatal(err)
	}
	if row := text(t, ctx, "#site-list tbody tr"); !strings.Contains(row, "shop.example.com") || !strings.Contains(row, "disabled") ||
		!strings.Contains(row, "ok") {
		t.Errorf("site row %q", row)
	}
}
