package outbound

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// server is a loopback HTTP server that counts its requests.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1); h(w, r) }))
	t.Cleanup(s.Close)
	return s, &n
}

func client(t *testing.T, p Policy, o Options) *Client {
	t.Helper()
	c, err := New(p, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestDefaultPolicyRefusesInternalAddresses: loopback, by address or by a
// name that resolves to it, is refused by default before any byte is
// sent; allowing its range lets the request through; a denied range wins
// over an allowed one.
func TestDefaultPolicyRefusesInternalAddresses(t *testing.T) {
	s, hits := server(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	port := s.URL[strings.LastIndex(s.URL, ":"):]
	ctx := context.Background()
	for _, u := range []string{s.URL, "http://localhost" + port + "/", "http://[::ffff:127.0.0.1]" + port + "/",
		"http://[::1%25lo]" + port + "/", "http://[::1%251]" + port + "/"} {
		if _, err := client(t, Policy{}, Options{}).Get(ctx, u, Validators{}, 10); !errors.Is(err, ErrForbidden) {
			t.Errorf("default policy, %s: %v, want ErrForbidden", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests reached the server", hits.Load())
	}
	r, err := client(t, Policy{AllowNets: loopback}, Options{}).Get(ctx, s.URL, Validators{}, 10)
	if err != nil || string(r.Body) != "ok" {
		t.Fatalf("allowed: %v %+v", err, r)
	}
	deny := Policy{AllowNets: loopback, DenyNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	if _, err := client(t, deny, Options{}).Get(ctx, s.URL, Validators{}, 10); !errors.Is(err, ErrForbidden) {
		t.Fatalf("denied over allowed: %v", err)
	}
}

// TestAddressRanges: each default-denied family, and public addresses.
func TestAddressRanges(t *testing.T) {
	for addr, denied := range map[string]bool{
		"10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true, "169.254.169.254": true, "100.64.0.1": true,
		"0.0.0.0": true, "224.0.0.1": true, "255.255.255.255": true, "::1": true, "fe80::1": true, "fd00::1": true,
		"::ffff:10.0.0.1": true, "64:ff9b::a00:1": true, "::1%lo": true, "fe80::1%eth0": true, "fd00::2%1": true,
		"2002:a00:1::1": true, "2001:0:4136:e378::1": true,
		"8.8.8.8": false, "2606:4700::1111": false, "172.32.0.1": false,
	} {
		err := Policy{}.addrAllowed(netip.MustParseAddr(addr))
		if (err != nil) != denied {
			t.Errorf("%s: %v, denied want %t", addr, err, denied)
		}
	}
}

// TestURLChecks: schemes other than http(s), credentials, hosts outside
// the allow-list and bad allow-list entries are refused.
func TestURLChecks(t *testing.T) {
	c := client(t, Policy{AllowHosts: []string{"*.pki.example", "crl.example.com"}}, Options{})
	ctx := context.Background()
	for _, u := range []string{"ftp://crl.example.com/a.crl", "file:///etc/passwd", "http://user:pw@crl.example.com/",
		"http://pki.example/", "http://evil.example.com/", "http:///nohost", "http://crl.example.com.evil/"} {
		if _, err := c.Get(ctx, u, Validators{}, 10); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: %v, want ErrForbidden", u, err)
		}
	}
	for _, u := range []string{"http://a.pki.example/x", "http://CRL.example.com./x"} {
		uu, _ := url.Parse(u)
		if err := c.policy.hostAllowed(uu.Hostname()); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, bad := range []string{"", "*.", "a/b", "*.*.x", "h:1"} {
		if _, err := New(Policy{AllowHosts: []string{bad}}, Options{}); err == nil {
			t.Errorf("allowed host %q accepted", bad)
		}
	}
}

// TestConditionalGet: the validators of one answer make the next request
// conditional, and a 304 is NotModified with no body.
func TestConditionalGet(t *testing.T) {
	s, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` || r.Header.Get("If-Modified-Since") == "Mon, 30 Nov 2026 10:00:00 GMT" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 30 Nov 2026 10:00:00 GMT")
		w.Write([]byte("crl"))
	})
	c := client(t, Policy{AllowNets: loopback}, Options{})
	first, err := c.Get(context.Background(), s.URL, Validators{}, 10)
	if err != nil || first.NotModified || first.Validators.ETag != `"v1"` {
		t.Fatalf("first: %v %+v", err, first)
	}
	for _, cond := range []Validators{first.Validators, {LastModified: first.Validators.LastModified}} {
		again, err := c.Get(context.Background(), s.URL, cond, 10)
		if err != nil || !again.NotModified || again.Body != nil || again.Validators != cond {
			t.Fatalf("conditional %+v: %v %+v", cond, err, again)
		}
	}
}

// TestLimitsAndErrors: bodies over the limit, announced or streamed, and
// answers other than 200 are errors of their own type.
func TestLimitsAndErrors(t *testing.T) {
	s, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/announced":
			w.Header().Set("Content-Length", "100")
			w.Write(make([]byte, 100))
		case "/streamed":
			w.(http.Flusher).Flush() // chunked: no length announced
			w.Write(make([]byte, 100))
		case "/304":
			w.WriteHeader(http.StatusNotModified) // to an unconditional request
		default:
			http.Error(w, "no", http.StatusInternalServerError)
		}
	})
	c := client(t, Policy{AllowNets: loopback}, Options{})
	ctx := context.Background()
	for _, p := range []string{"/announced", "/streamed"} {
		if _, err := c.Get(ctx, s.URL+p, Validators{}, 99); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v, want ErrTooLarge", p, err)
		}
	}
	if r, err := c.Get(ctx, s.URL+"/announced", Validators{}, 100); err != nil || len(r.Body) != 100 {
		t.Errorf("at the limit: %v", err)
	}
	for _, p := range []string{"/500", "/304"} {
		var se *StatusError
		if _, err := c.Get(ctx, s.URL+p, Validators{}, 10); !errors.As(err, &se) {
			t.Errorf("%s: %v, want a StatusError", p, err)
		}
	}
}

// TestRedirects: a redirect within the policy is followed; one to another
// scheme, to a host outside the allow-list, to a denied address, or past
// the limit is refused.
func TestRedirects(t *testing.T) {
	target, _ := server(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("here")) })
	var s *httptest.Server
	s, _ = server(t, func(w http.ResponseWriter, r *http.Request) {
		to := map[string]string{"/same": target.URL + "/x", "/scheme": "https://" + target.Listener.Addr().String() + "/x",
			"/loop": s.URL + "/loop", "/elsewhere": "http://other.example/x", "/private": "http://10.255.255.1/x",
			"/zone": "http://[::1%25lo]" + target.URL[strings.LastIndex(target.URL, ":"):] + "/x"}[r.URL.Path]
		http.Redirect(w, r, to, http.StatusFound)
	})
	c := client(t, Policy{AllowNets: loopback}, Options{})
	ctx := context.Background()
	if r, err := c.Get(ctx, s.URL+"/same", Validators{}, 10); err != nil || string(r.Body) != "here" || r.URL != target.URL+"/x" {
		t.Fatalf("same-scheme redirect: %v %+v", err, r)
	}
	if _, err := c.Get(ctx, s.URL+"/scheme", Validators{}, 10); !errors.Is(err, ErrForbidden) {
		t.Errorf("scheme change: %v", err)
	}
	if _, err := c.Get(ctx, s.URL+"/loop", Validators{}, 10); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("redirect loop: %v", err)
	}
	hosts := client(t, Policy{AllowNets: loopback, AllowHosts: []string{"127.0.0.1"}}, Options{})
	if _, err := hosts.Get(ctx, s.URL+"/elsewhere", Validators{}, 10); !errors.Is(err, ErrForbidden) {
		t.Errorf("redirect out of the allow-list: %v", err)
	}
	for _, p := range []string{"/private", "/zone"} {
		if _, err := c.Get(ctx, s.URL+p, Validators{}, 10); !errors.Is(err, ErrForbidden) {
			t.Errorf("redirect %s to a denied address: %v", p, err)
		}
	}
}

// TestProxy: behind a proxy, requests go to the proxy (which may be on a
// denied range: the operator chose it), and the destination is checked
// on the addresses mtlsgate resolves.
func TestProxy(t *testing.T) {
	var seen atomic.Value
	proxy, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.String())
		w.Write([]byte("via proxy"))
	})
	pu, _ := url.Parse(proxy.URL)
	c := client(t, Policy{}, Options{Proxy: pu})
	ctx := context.Background()
	r, err := c.Get(ctx, "http://198.41.0.4/ca.crl", Validators{}, 100)
	if err != nil || string(r.Body) != "via proxy" || seen.Load() != "http://198.41.0.4/ca.crl" {
		t.Fatalf("through the proxy: %v %+v %v", err, r, seen.Load())
	}
	for _, u := range []string{"http://10.0.0.1/x", "http://localhost/x"} {
		if _, err := c.Get(ctx, u, Validators{}, 100); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s behind the proxy: %v", u, err)
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("the proxy got %d requests, want 1", hits.Load())
	}
}

// TestUnmapPrefix: IPv4-mapped ranges become the IPv4 ranges they map.
func TestUnmapPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"::ffff:169.254.0.0/112": "169.254.0.0/16", "::ffff:10.1.2.3/128": "10.1.2.3/32",
		"10.0.0.0/8": "10.0.0.0/8", "fd00::/8": "fd00::/8", "10.1.2.3/8": "10.0.0.0/8",
	} {
		if got := UnmapPrefix(netip.MustParsePrefix(in)).String(); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestIdleConnectionsKept: a client keeps MaxIdlePerHost connections to a
// host after a burst, so that the next burst of that many requests opens
// none; with the default of two, the others are closed.
func TestIdleConnectionsKept(t *testing.T) {
	const burst = 8
	for _, idle := range []int{burst, 0} {
		var opened, closed, held atomic.Int64
		release := make(chan struct{})
		var holding atomic.Bool
		holding.Store(true)
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if holding.Load() {
				held.Add(1)
				<-release
			}
			w.Write([]byte("ok"))
		}))
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				opened.Add(1)
			case http.StateClosed:
				closed.Add(1)
			}
		}
		s.Start()
		c := client(t, Policy{AllowNets: loopback}, Options{MaxIdlePerHost: idle})
		send := func() {
			var wg sync.WaitGroup
			for range burst {
				wg.Go(func() {
					if _, err := c.Get(context.Background(), s.URL, Validators{}, 10); err != nil {
						t.Error(err)
					}
				})
			}
			for holding.Load() && held.Load() < burst { // every request on a connection of its own
				time.Sleep(time.Millisecond)
			}
			if holding.Swap(false) {
				close(release)
			}
			wg.Wait()
		}
		send()
		if idle == 0 {
			for deadline := time.Now().Add(5 * time.Second); closed.Load() < burst-2 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if closed.Load() != burst-2 {
				t.Errorf("default: %d connections closed after the burst, want %d", closed.Load(), burst-2)
			}
		} else {
			before := opened.Load()
			send()
			if n := opened.Load() - before; n != 0 {
				t.Errorf("MaxIdlePerHost %d: the second burst opened %d connections, want none", idle, n)
			}
		}
		s.Close()
	}
}
