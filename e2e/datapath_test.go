package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// echo is what the origin saw of one request.
type echo struct {
	Host    string
	Headers http.Header
}

// startOrigin runs an origin that answers every request with the headers
// it received.
func startOrigin(t *testing.T) *httptest.Server {
	t.Helper()
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{Host: r.Host, Headers: r.Header})
	}))
	t.Cleanup(o.Close)
	return o
}

// client speaks to the data plane like a browser or curl would, with the
// SNI, Host and client certificate each test chooses.
type client struct {
	t     *testing.T
	https string
	http  string
	roots *x509.CertPool
}

func (c *client) transport(sni string, cert *testpki.Cert) *http.Transport {
	cfg := &tls.Config{ServerName: sni, RootCAs: c.roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Send the certificate whatever CA list the server asks for, as
		// curl does (Go's client would otherwise send none for a
		// certificate from a CA the server does not list).
		tc := &tls.Certificate{Certificate: [][]byte{cert.Cert.Raw}, PrivateKey: cert.Key}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tc, nil }
	}
	return &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true, DisableKeepAlives: false}
}

// get sends GET path over HTTPS with SNI sni and Host host.
func (c *client) get(sni, host, path string, cert *testpki.Cert, hdr map[string]string) (*http.Response, *echo, error) {
	return c.do(&http.Client{Transport: c.transport(sni, cert), Timeout: 10 * time.Second}, "https://"+c.https+path, host, hdr)
}

func (c *client) do(hc *http.Client, url, host string, hdr map[string]string) (*http.Response, *echo, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e echo
	if json.Unmarshal(body, &e) != nil {
		e = echo{Headers: http.Header{"X-Body": {string(body)}}}
	}
	return resp, &e, nil
}

// deployment is mtlsgate, a data plane and an origin, set up through the
// CLI with one site per behaviour.
type deployment struct {
	in    *instance
	dp    dataPlane
	c     *client
	p     ports
	dir   string
	alice *testpki.Cert // valid, from the "clients" CA
	certs map[string]*testpki.Cert
	caID  string
}

func deploy(t *testing.T) *deployment {
	dir := t.TempDir()
	p := freePorts(t)
	in := serveAt(t, dir, p)
	origin := startOrigin(t)
	edge := testpki.NewRoot(t, "Edge Server CA", testpki.Options{})
	clients := testpki.NewRoot(t, "Clients CA", testpki.Options{})
	partners := testpki.NewRoot(t, "Partners CA", testpki.Options{})
	other := testpki.NewRoot(t, "Other CA", testpki.Options{})
	d := &deployment{in: in, p: p, dir: dir, alice: clients.Leaf(t, "alice", testpki.Options{}), certs: map[string]*testpki.Cert{
		"revoked": clients.Leaf(t, "revoked", testpki.Options{}),
		"noeku":   clients.Leaf(t, "noeku", testpki.Options{NoEKU: true}),
		"other":   other.Leaf(t, "mallory", testpki.Options{}),
	}}
	d.caID = in.cli(t, "ca", "add", "--name", "clients", writeFile(t, dir, "clients.pem", clients.PEM()), "-o", "id")
	partnersID := in.cli(t, "ca", "add", "--name", "partners", writeFile(t, dir, "partners.pem", partners.PEM()), "-o", "id")
	// Only the clients CA has a CRL: coverage is partial, so Envoy gets no
	// CRL and revocation is ext_authz's to enforce (403, not a TLS alert).
	in.cli(t, "crl", "add", writeFile(t, dir, "clients.crl", clients.CRL(t, 1, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), d.certs["revoked"].Cert.SerialNumber)))
	for host, args := range map[string][]string{
		"enforce.example.com":    {"mode=enforce"},
		"permissive.example.com": {"mode=permissive", "http_redirect=false"},
		"disabled.example.com":   {"mode=disabled", "http_redirect=false"},
		"redirect.example.com":   {"mode=disabled", "http_redirect=true"},
		"refused.example.com":    {"mode=enforce", "http_redirect=false"},
		"later.example.com":      {"mode=enforce"},
	} {
		srv := edge.Server(t, host)
		in.cli(t, "site", "put", host, "--cert", writeFile(t, dir, host+".pem", srv.PEM()),
			"--key", writeFile(t, dir, host+".key", srv.KeyPEM()), "--origin", origin.URL)
		in.cli(t, append([]string{"site", "set", host}, args...)...)
	}
	in.cli(t, "site", "assign", "enforce.example.com", d.caID, partnersID)
	in.cli(t, "site", "assign", "permissive.example.com", d.caID)
	roots := x509.NewCertPool()
	roots.AddCert(edge.Cert)
	d.c = &client{t: t, https: addr(p.https), http: addr(p.http), roots: roots}
	d.dp = startDataPlane(t, in, dir, p)
	eventually(t, 30*time.Second, "the data plane serves enforce.example.com", func() bool {
		resp, _, err := d.c.get("enforce.example.com", "enforce.example.com", "/", d.alice, nil)
		return err == nil && resp.StatusCode == 200
	})
	t.Cleanup(func() {
		for _, err := range d.dp.errors() {
			t.Errorf("data plane: %v", err)
		}
	})
	return d
}

func TestDataPath(t *testing.T) {
	d := deploy(t)
	c := d.c
	type want struct {
		handshake bool   // false: the TLS handshake must fail
		status    int    // at the client
		verify    string // x-client-cert-verify at the origin ("-": absent)
		body      string // in a denial
	}
	cases := []struct {
		name      string
		sni, host string
		cert      *testpki.Cert
		want      want
	}{
		{"enforce, no certificate", "enforce.example.com", "enforce.example.com", nil, want{}},
		{"enforce, valid", "enforce.example.com", "enforce.example.com", d.alice, want{true, 200, "SUCCESS", ""}},
		{"enforce, another CA", "enforce.example.com", "enforce.example.com", d.certs["other"], want{}},
		{"enforce, revoked", "enforce.example.com", "enforce.example.com", d.certs["revoked"], want{true, 403, "", "(revoked)"}},
		{"enforce, no clientAuth EKU", "enforce.example.com", "enforce.example.com", d.certs["noeku"], want{true, 403, "", "(missing_client_auth_eku)"}},
		{"permissive, none", "permissive.example.com", "permissive.example.com", nil, want{true, 200, "NONE", ""}},
		{"permissive, another CA", "permissive.example.com", "permissive.example.com", d.certs["other"], want{true, 200, "FAILED:untrusted", ""}},
		{"permissive, valid", "permissive.example.com", "permissive.example.com", d.alice, want{true, 200, "SUCCESS", ""}},
		{"disabled", "disabled.example.com", "disabled.example.com", nil, want{true, 200, "-", ""}},
		{"SNI disabled, Host enforcing", "disabled.example.com", "enforce.example.com", nil, want{true, 421, "", "(sni_mismatch)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Whatever a client claims, the origin hears only mtlsgate.
			forged := map[string]string{"X-Client-Cert-Verify": "SUCCESS", "Client-Cert": ":Zm9yZ2Vk:", "X-Client-Cert-Subject": "CN=admin"}
			resp, got, err := c.get(tc.sni, tc.host, "/x", tc.cert, forged)
			if !tc.want.handshake {
				if err == nil {
					t.Fatalf("the handshake succeeded: %d", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			if resp.StatusCode != tc.want.status {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tc.want.status, got.Headers.Get("X-Body"))
			}
			if tc.want.status != 200 {
				if !strings.Contains(got.Headers.Get("X-Body"), tc.want.body) {
					t.Fatalf("denial body %q lacks %q", got.Headers.Get("X-Body"), tc.want.body)
				}
				return
			}
			v := got.Headers.Get("X-Client-Cert-Verify")
			if tc.want.verify == "-" && v != "" || tc.want.verify != "-" && v != tc.want.verify {
				t.Fatalf("origin saw verify %q, want %q", v, tc.want.verify)
			}
			if s := got.Headers.Get("X-Client-Cert-Subject"); s == "CN=admin" {
				t.Fatal("a forged subject reached the origin")
			}
			if cc := got.Headers.Get("Client-Cert"); cc == ":Zm9yZ2Vk:" {
				t.Fatal("a forged Client-Cert reached the origin")
			}
			if tc.want.verify == "SUCCESS" && got.Headers.Get("X-Client-Cert-Subject") != tc.cert.Cert.Subject.String() {
				t.Fatalf("origin saw subject %q", got.Headers.Get("X-Client-Cert-Subject"))
			}
		})
	}
	t.Run("plain HTTP strips the headers too", func(t *testing.T) {
		forged := map[string]string{"X-Client-Cert-Verify": "SUCCESS", "Client-Cert": ":Zm9yZ2Vk:", "X-Client-Cert-Subject": "CN=admin"}
		_, got, err := c.do(&http.Client{}, "http://"+c.http+"/", "disabled.example.com", forged)
		if err != nil || got.Headers.Get("X-Client-Cert-Verify") != "" || got.Headers.Get("Client-Cert") != "" || got.Headers.Get("X-Client-Cert-Subject") != "" {
			t.Fatalf("%v %v", err, got)
		}
	})
	// Issue 9, finding 6: plain HTTP never reaches an enforcing site's
	// origin, and a permissive site's gets verify NONE from mtlsgate.
	t.Run("TestFinding6 plain HTTP", func(t *testing.T) {
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		forged := map[string]string{"X-Client-Cert-Verify": "SUCCESS"}
		resp, got, err := c.do(hc, "http://"+c.http+"/x", "permissive.example.com", forged)
		if err != nil || resp.StatusCode != 200 || got.Headers.Get("X-Client-Cert-Verify") != "NONE" {
			t.Fatalf("permissive: %v %v %v", err, resp, got)
		}
		resp, got, err = c.do(hc, "http://"+c.http+"/x", "refused.example.com", forged)
		if err != nil || resp.StatusCode != 403 || got.Headers.Get("X-Client-Cert-Verify") != "" {
			t.Fatalf("enforce, redirect off: %v %v %v, want 403", err, resp, got)
		}
		resp, _, err = c.do(hc, "http://"+c.http+"/x", "enforce.example.com", forged)
		if err != nil || resp.StatusCode != 301 {
			t.Fatalf("enforce, redirect by default: %v %v, want 301", err, resp)
		}
	})
	t.Run("HTTP redirect", func(t *testing.T) {
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, _, err := c.do(hc, "http://"+c.http+"/a?b=1", "redirect.example.com", nil)
		if err != nil || resp.StatusCode != 301 || resp.Header.Get("Location") != "https://redirect.example.com:"+itoa(d.p.https)+"/a?b=1" {
			t.Fatalf("%v %v", err, resp)
		}
	})
}

func itoa(n int) string { return strings.TrimPrefix(addr(n), "127.0.0.1:") }

// TestCAAssignmentWhileConnected: assigning a CA to one site takes effect
// within a second, and a connection open to another site is not drained.
func TestCAAssignmentWhileConnected(t *testing.T) {
	d := deploy(t)
	c := d.c
	keep := &http.Client{Transport: c.transport("enforce.example.com", d.alice)}
	if resp, _, err := c.do(keep, "https://"+c.https+"/", "enforce.example.com", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v", err)
	}
	if resp, _, err := c.get("later.example.com", "later.example.com", "/", d.alice, nil); err == nil && resp.StatusCode == 200 {
		t.Fatal("later.example.com admitted alice before its CA was assigned")
	}
	if _, err := d.in.api(t).AssignSiteCAs(d.in.authCtx(t), &pb.SiteCAsRequest{Hostname: "later.example.com", CaIds: []string{d.caID}}); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	eventually(t, 5*time.Second, "alice admitted to later.example.com", func() bool {
		resp, _, err := c.get("later.example.com", "later.example.com", "/", d.alice, nil)
		return err == nil && resp.StatusCode == 200
	})
	took := time.Since(returned)
	t.Logf("CA assignment took effect in %v", took)
	if took > time.Second {
		t.Errorf("CA assignment took %v; the bound is 1s", took)
	}
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req, _ := http.NewRequest("GET", "https://"+c.https+"/", nil)
	req.Host = "enforce.example.com"
	resp, err := keep.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil || resp.StatusCode != 200 || !reused {
		t.Fatalf("the open connection to enforce.example.com did not survive: %v reused=%v", err, reused)
	}
	resp.Body.Close()
}

// TestControlPlaneRestart: with mtlsgate down the data plane keeps its
// configuration (handshakes work, requests fail closed), and it picks up
// where it left off once mtlsgate is back.
func TestControlPlaneRestart(t *testing.T) {
	d := deploy(t)
	c := d.c
	d.in.stop(t)
	resp, _, err := c.get("enforce.example.com", "enforce.example.com", "/", d.alice, nil)
	if err != nil {
		t.Fatalf("the data plane lost its configuration: %v", err)
	}
	if resp.StatusCode != 503 {
		t.Fatalf("with ext_authz down: status %d, want 503 (fail closed)", resp.StatusCode)
	}
	in := serveAt(t, d.dir, d.p)
	eventually(t, 30*time.Second, "requests pass again", func() bool {
		resp, _, err := c.get("enforce.example.com", "enforce.example.com", "/", d.alice, nil)
		return err == nil && resp.StatusCode == 200
	})
	// The data plane is subscribed again: a change reaches it.
	in.cli(t, "site", "set", "permissive.example.com", "mode=enforce")
	eventually(t, 10*time.Second, "permissive.example.com now enforces", func() bool {
		_, _, err := c.get("permissive.example.com", "permissive.example.com", "/", nil, nil)
		return err != nil
	})
}
