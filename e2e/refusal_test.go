package e2e

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// refusalPage is the page kind.example.com answers a request without a
// certificate with.
const refusalPage = "<!doctype html><title>Certificate needed</title><h1>No certificate ({reason})</h1><p><a href=\"https://enroll.example.com/\">Enroll</a></p>\n"

// TestRefusedKindly (issue 15): on the real binary, set up with the CLI,
// through the data plane, an enforcing site verifying at the request
// (verify_at=request) answers a browser-shaped request without a
// certificate with its HTML page and status, and one with an untrusted
// certificate with its redirect; the refusals are logged and never reach
// the origin. An enforcing site verifying at the handshake still fails
// those handshakes, and a connection made for the request site cannot
// reach it (421).
func TestRefusedKindly(t *testing.T) {
	dir := t.TempDir()
	p := freePorts(t)
	in := serveAt(t, dir, p)
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"Host":"` + r.Host + `"}`))
	}))
	t.Cleanup(origin.Close)
	edge := testpki.NewRoot(t, "Edge Server CA", testpki.Options{})
	clients := testpki.NewRoot(t, "Clients CA", testpki.Options{})
	alice := clients.Leaf(t, "alice", testpki.Options{})
	mallory := testpki.NewRoot(t, "Other CA", testpki.Options{}).Leaf(t, "mallory", testpki.Options{})
	caID := in.cli(t, "ca", "add", "--name", "clients", writeFile(t, dir, "clients.pem", clients.PEM()), "-o", "id")
	for _, host := range []string{"kind.example.com", "strict.example.com"} {
		srv := edge.Server(t, host)
		in.cli(t, "site", "put", host, "--cert", writeFile(t, dir, host+".pem", srv.PEM()),
			"--key", writeFile(t, dir, host+".key", srv.KeyPEM()), "--origin", origin.URL, "--mode", "enforce")
		in.cli(t, "site", "assign", host, caID)
	}
	in.cli(t, "site", "set", "kind.example.com", "verify_at=request")
	in.cli(t, "refusal", "set", "kind.example.com", "--reason", "none", "--page", writeFile(t, dir, "page.html", []byte(refusalPage)),
		"--content-type", "text/html", "--status", "401")
	in.cli(t, "refusal", "set", "kind.example.com", "--reason", "untrusted", "--redirect", "https://enroll.example.com/start?why={reason}")
	if show := in.cli(t, "site", "show", "kind.example.com"); !strings.Contains(show, "verify_at") || !strings.Contains(show, "none: page 401, text/html") ||
		!strings.Contains(show, "untrusted: redirect https://enroll.example.com/start?why={reason}") {
		t.Fatalf("site show:\n%s", show)
	}

	roots := x509.NewCertPool()
	roots.AddCert(edge.Cert)
	c := &client{t: t, https: addr(p.https), http: addr(p.http), roots: roots}
	dp := startDataPlane(t, in, dir, p)
	t.Cleanup(func() {
		for _, err := range dp.errors() {
			t.Errorf("data plane: %v", err)
		}
	})
	for _, host := range []string{"kind.example.com", "strict.example.com"} {
		eventually(t, 30*time.Second, "the data plane serves "+host, func() bool {
			resp, _, err := c.get(host, host, "/", alice, nil)
			return err == nil && resp.StatusCode == 200
		})
	}
	before := hits.Load()
	browser := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) e2e"}
	noFollow := func(sni string, cert *testpki.Cert) *http.Client {
		return &http.Client{Transport: c.transport(sni, cert), Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}

	t.Run("request site, no certificate: the page", func(t *testing.T) {
		resp, got, err := c.do(noFollow("kind.example.com", nil), "https://"+c.https+"/account", "kind.example.com", browser)
		if err != nil {
			t.Fatalf("the handshake failed: %v", err)
		}
		want := strings.ReplaceAll(refusalPage, "{reason}", "no_certificate")
		if resp.StatusCode != 401 || got.Headers.Get("X-Body") != want ||
			resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("got %d %v %q", resp.StatusCode, resp.Header, got.Headers.Get("X-Body"))
		}
	})
	t.Run("request site, untrusted certificate: the redirect", func(t *testing.T) {
		resp, _, err := c.do(noFollow("kind.example.com", mallory), "https://"+c.https+"/account", "kind.example.com", browser)
		if err != nil {
			t.Fatalf("the handshake failed: %v", err)
		}
		if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://enroll.example.com/start?why=untrusted" {
			t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("handshake site: the handshake fails", func(t *testing.T) {
		for _, cert := range []*testpki.Cert{nil, mallory} {
			if resp, _, err := c.do(noFollow("strict.example.com", cert), "https://"+c.https+"/", "strict.example.com", browser); err == nil {
				t.Fatalf("the handshake succeeded (%v): %d", cert != nil, resp.StatusCode)
			}
		}
	})
	t.Run("a request site's connection cannot reach the handshake site", func(t *testing.T) {
		resp, got, err := c.do(noFollow("kind.example.com", nil), "https://"+c.https+"/", "strict.example.com", browser)
		if err != nil || resp.StatusCode != 421 || !strings.Contains(got.Headers.Get("X-Body"), "(sni_mismatch)") {
			t.Fatalf("got %v %v %v", err, resp, got)
		}
	})
	if n := hits.Load() - before; n != 0 {
		t.Fatalf("the origin saw %d refused requests", n)
	}
	eventually(t, 5*time.Second, "the refusals are logged", func() bool {
		logs := in.logs.String()
		return strings.Contains(logs, `"reason":"no_certificate"`) && strings.Contains(logs, `"status":401`) &&
			strings.Contains(logs, `"reason":"untrusted"`) && strings.Contains(logs, `"status":302`)
	})
}
