package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
)

// fakeAPI accepts the token "good" and counts uploads.
type fakeAPI struct {
	pb.CertificateManagerServiceClient
	uploads int
}

func authorised(ctx context.Context) error {
	md, _ := metadata.FromOutgoingContext(ctx)
	if v := md.Get("authorization"); len(v) != 1 || v[0] != "Bearer good" {
		return status.Error(codes.Unauthenticated, "a valid bearer token is required")
	}
	return nil
}

func (f *fakeAPI) ListClientCAs(ctx context.Context, _ *pb.ListClientCAsRequest, _ ...grpc.CallOption) (*pb.ListClientCAsResponse, error) {
	return &pb.ListClientCAsResponse{}, authorised(ctx)
}

func (f *fakeAPI) ListAuditEvents(ctx context.Context, _ *pb.ListAuditEventsRequest, _ ...grpc.CallOption) (*pb.ListAuditEventsResponse, error) {
	return &pb.ListAuditEventsResponse{}, authorised(ctx)
}

func (f *fakeAPI) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest, _ ...grpc.CallOption) (*pb.Token, error) {
	return &pb.Token{Id: "good-id", Role: pb.Role_ROLE_ADMIN}, authorised(ctx)
}

func (f *fakeAPI) ListSites(ctx context.Context, _ *pb.ListSitesRequest, _ ...grpc.CallOption) (*pb.ListSitesResponse, error) {
	return &pb.ListSitesResponse{}, authorised(ctx)
}

func (f *fakeAPI) CreateClientCA(ctx context.Context, _ *pb.CreateClientCARequest, _ ...grpc.CallOption) (*pb.ClientCA, error) {
	f.uploads++
	return &pb.ClientCA{}, authorised(ctx)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTest(t *testing.T) (*Console, *fakeAPI, *clock) {
	t.Helper()
	api, clk := &fakeAPI{}, &clock{t: time.Unix(1_800_000_000, 0)}
	c, err := New(Options{API: api, Sealer: seal.MustGenerate(), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return c, api, clk
}

// do serves one request from the console's own origin over TLS.
func do(c *Console, method, path, body string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://console.test"+path, strings.NewReader(body))
	r.Header.Set("Origin", "https://console.test")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, ck := range cookies {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	return w
}

func signedIn(t *testing.T, c *Console) *http.Cookie {
	t.Helper()
	w := do(c, "POST", "/ui/signin", "token=good")
	for _, ck := range w.Result().Cookies() {
		if ck.Name == CookieName {
			if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui/" {
				t.Errorf("cookie attributes: %+v", ck)
			}
			return ck
		}
	}
	t.Fatalf("sign-in answered %d without a session cookie", w.Code)
	return nil
}

func TestSignInRefusesBadToken(t *testing.T) {
	c, _, _ := newTest(t)
	w := do(c, "POST", "/ui/signin", "token=bad")
	if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 || !strings.Contains(w.Body.String(), "refused this token") {
		t.Errorf("bad token: %d %v", w.Code, w.Result().Cookies())
	}
}

func TestSessionExpiryAndTamper(t *testing.T) {
	c, _, clk := newTest(t)
	ck := signedIn(t, c)
	if w := do(c, "GET", "/ui/cas", "", ck); w.Code != http.StatusOK {
		t.Fatalf("fresh session: %d", w.Code)
	}
	tampered := *ck
	tampered.Value = ck.Value[:len(ck.Value)-2] + "AA"
	for name, tc := range map[string]struct {
		advance time.Duration
		ck      *http.Cookie
		why     string
	}{
		"idle":     {DefaultIdleTimeout + time.Second, ck, "expired"},
		"tampered": {0, &tampered, "invalid"},
	} {
		clk.t = clk.t.Add(tc.advance)
		w := do(c, "GET", "/ui/cas", "", tc.ck)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/signin?why="+tc.why {
			t.Errorf("%s: %d %s", name, w.Code, w.Header().Get("Location"))
		}
		clk.t = clk.t.Add(-tc.advance)
	}
	// Activity keeps a session alive until its absolute limit.
	for clk.t.Sub(time.Unix(1_800_000_000, 0)) < DefaultMaxAge-DefaultIdleTimeout {
		clk.t = clk.t.Add(DefaultIdleTimeout - time.Minute)
		w := do(c, "GET", "/ui/cas", "", ck)
		if w.Code != http.StatusOK {
			t.Fatalf("active session refused at %v: %d", clk.t, w.Code)
		}
		for _, n := range w.Result().Cookies() {
			ck = n
		}
	}
	clk.t = time.Unix(1_800_000_000, 0).Add(DefaultMaxAge + time.Second)
	if w := do(c, "GET", "/ui/cas", "", ck); w.Header().Get("Location") != "/ui/signin?why=expired" {
		t.Errorf("past the absolute limit: %d %s", w.Code, w.Header().Get("Location"))
	}
}

func TestCSRF(t *testing.T) {
	c, _, _ := newTest(t)
	ck := signedIn(t, c)
	other := signedIn(t, c)
	s, err := openSession(c.sealer, other.Value, c.now(), time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"no token":            "",
		"wrong token":         "csrf=abc",
		"other session":       "csrf=" + url.QueryEscape(csrfToken(s, "/ui/signout")),
		"other form's action": "csrf=" + url.QueryEscape(csrfToken(s, "/ui/cas")),
	} {
		if w := do(c, "POST", "/ui/signout", body, ck); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
	if w := do(c, "POST", "/ui/signout", "csrf="+url.QueryEscape(csrfToken(s, "/ui/signout")), other); w.Code != http.StatusSeeOther {
		t.Errorf("the right token: %d", w.Code)
	}
}

func TestCrossSiteRefused(t *testing.T) {
	c, api, _ := newTest(t)
	ck := signedIn(t, c)
	for name, hdr := range map[string][2]string{
		"cross-site fetch": {"https://evil.test", "cross-site"},
		"same-site":        {"https://sub.console.test", "same-site"},
		"other origin":     {"https://evil.test", ""},
		"no origin":        {"", ""},
		"plain http":       {"http://console.test", ""},
	} {
		r := httptest.NewRequest("POST", "https://console.test/ui/cas", strings.NewReader(""))
		r.Header.Set("Origin", hdr[0])
		r.Header.Set("Sec-Fetch-Site", hdr[1])
		r.AddCookie(ck)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "cross-site") {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
	if api.uploads != 0 {
		t.Errorf("%d uploads reached the API", api.uploads)
	}
}

func TestHeaders(t *testing.T) {
	c, _, _ := newTest(t)
	for _, p := range []string{"/ui/signin", "/ui/cas", assetURL("console.css")} {
		w := do(c, "GET", p, "")
		h := w.Header()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
	if w := do(c, "GET", "/ui/signin", ""); w.Header().Get("Cache-Control") != "no-store" || strings.Contains(w.Body.String(), "<script>") || strings.Contains(w.Body.String(), "style=") {
		t.Errorf("sign-in page: cache %q, or inline script/style", w.Header().Get("Cache-Control"))
	}
	w := do(c, "GET", assetURL("console.js"), "")
	if !strings.Contains(w.Header().Get("Cache-Control"), "immutable") || w.Header().Get("ETag") == "" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Errorf("asset headers: %v", w.Header())
	}
	r := httptest.NewRequest("GET", assetURL("console.js"), nil)
	r.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w2 := httptest.NewRecorder()
	c.ServeHTTP(w2, r)
	if w2.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d", w2.Code)
	}
}
