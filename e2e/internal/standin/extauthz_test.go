package standin_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/e2e/internal/standin"
)

// fakeAuthz records CheckRequests and answers what the test says.
type fakeAuthz struct {
	authv3.UnimplementedAuthorizationServer
	mu      sync.Mutex
	last    *authv3.CheckRequest
	respond func(*authv3.CheckRequest) (*authv3.CheckResponse, error)
}

func (f *fakeAuthz) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	f.mu.Lock()
	f.last = req
	respond := f.respond
	f.mu.Unlock()
	return respond(req)
}

func (f *fakeAuthz) answer(fn func(*authv3.CheckRequest) (*authv3.CheckResponse, error)) {
	f.mu.Lock()
	f.respond = fn
	f.mu.Unlock()
}

func (f *fakeAuthz) lastRequest() *authv3.CheckRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func hv(k, v string, a corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: a}
}

func okWith(ok *authv3.OkHttpResponse) func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return &authv3.CheckResponse{Status: &statuspb.Status{}, HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok}}, nil
	}
}

// TestExtAuthz checks the CheckRequest the stand-in builds and how it
// applies each kind of answer.
func TestExtAuthz(t *testing.T) {
	fake := &fakeAuthz{}
	fake.answer(okWith(&authv3.OkHttpResponse{}))
	h := newHarness(t, harnessOptions{authz: fake})
	t.Run("request and ok answer", func(t *testing.T) { testCheckRequest(t, h, fake) })
	t.Run("denials and errors", func(t *testing.T) { testDenials(t, h, fake) })
	t.Run("violations", func(t *testing.T) { testViolations(t, h, fake) })
	t.Run("per-route disabled and direct response", func(t *testing.T) { testPerRoute(t, h, fake) })
}

// testPerRoute: a route with ExtAuthzPerRoute.disabled skips the filter
// (its redirect, direct response or origin answers, with no Check); a
// route with check_settings sends its context extensions; a request
// matching no route is still checked, with none, as in Envoy.
func testPerRoute(t *testing.T, h *harness, fake *fakeAuthz) {
	fake.answer(func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return &authv3.CheckResponse{Status: &statuspb.Status{Code: int32(codes.PermissionDenied)},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized}}}}, nil
	})
	for _, tc := range []struct {
		url     string
		status  int
		checked map[string]string // context extensions of the Check; nil: no Check
	}{
		{"http://" + wildExactSite + "/", http.StatusMovedPermanently, nil},
		{"http://a.wild.example.org/", http.StatusForbidden, nil},
		{"http://" + plainSite + "/", http.StatusOK, nil},
		{"http://" + permissiveSite + "/", http.StatusUnauthorized, map[string]string{"site": permissiveSite, "listener": "http"}},
		{"http://nosuch.example.net/", http.StatusUnauthorized, map[string]string{}},
	} {
		fake.mu.Lock()
		fake.last = nil
		fake.mu.Unlock()
		resp, _, err := h.do(t, call{url: tc.url})
		if err != nil || resp.StatusCode != tc.status {
			t.Errorf("%s: %v %v, want %d", tc.url, resp, err, tc.status)
			continue
		}
		last := fake.lastRequest()
		switch {
		case tc.checked == nil && last != nil:
			t.Errorf("%s: checked on a route with ext_authz disabled", tc.url)
		case tc.checked != nil && last == nil:
			t.Errorf("%s: not checked", tc.url)
		case tc.checked != nil && !maps.Equal(last.GetAttributes().GetContextExtensions(), tc.checked):
			t.Errorf("%s: context extensions %v, want %v", tc.url, last.GetAttributes().GetContextExtensions(), tc.checked)
		}
	}
}

func testCheckRequest(t *testing.T, h *harness, fake *fakeAuthz) {
	fake.answer(okWith(&authv3.OkHttpResponse{
		Headers: []*corev3.HeaderValueOption{
			hv("x-set", "v1", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD),
			hv("x-app", "b", corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
			hv("x-absent", "c", corev3.HeaderValueOption_ADD_IF_ABSENT),
			hv("x-only-if", "d", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS),
			hv("x-remove-me", "set-then-removed", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD),
		},
		HeadersToRemove: []string{"x-remove-me", ":path", "host"},
	}))
	resp, e, err := h.do(t, call{url: "https://" + enforceSite + "/p%2Fq/./r?x=1", cert: chain(h.pki.good, h.pki.clientInter),
		headers: map[string]string{"X-Set": "client", "X-App": "a", "X-Absent": "orig", "X-Forwarded-Client-Cert": "Hash=x"}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%v %v", resp, err)
	}
	want := map[string][]string{"X-Set": {"v1"}, "X-App": {"a", "b"}, "X-Absent": {"orig"}, "X-Only-If": nil, "X-Remove-Me": nil}
	for k, v := range want {
		if got := e.Headers.Values(k); !slices.Equal(got, v) {
			t.Errorf("origin header %s = %q, want %q", k, got, v)
		}
	}
	if e.URI != "/p/q/r?x=1" || e.Host != enforceSite {
		t.Errorf("origin saw %s %s", e.Host, e.URI)
	}
	checkAttributes(t, h, fake.lastRequest().GetAttributes())
}

// checkAttributes compares a CheckRequest with what Envoy sends.
func checkAttributes(t *testing.T, h *harness, a *authv3.AttributeContext) {
	t.Helper()
	src, dst, hr := a.GetSource(), a.GetDestination(), a.GetRequest().GetHttp()
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"source.certificate", src.GetCertificate(), extract.EncodeNew(h.pki.good.PEM())},
		{"source.principal", src.GetPrincipal(), "alice.clients.example"},
		{"source.address", src.GetAddress().GetSocketAddress().GetAddress(), "127.0.0.1"},
		{"destination.principal", dst.GetPrincipal(), enforceSite},
		{"tls_session.sni", a.GetTlsSession().GetSni(), enforceSite},
		{"context_extensions", a.GetContextExtensions()[contract.SiteExtension], enforceSite},
		{"http.path", hr.GetPath(), "/p/q/r?x=1"},
		{"http.host", hr.GetHost(), enforceSite},
		{"http.method", hr.GetMethod(), "GET"},
		{"http.scheme", hr.GetScheme(), "https"},
		{"http.protocol", hr.GetProtocol(), "HTTP/1.1"},
		{":authority", hr.GetHeaders()[":authority"], enforceSite},
		{":path", hr.GetHeaders()[":path"], "/p/q/r?x=1"},
		{":method", hr.GetHeaders()[":method"], "GET"},
		{":scheme", hr.GetHeaders()[":scheme"], "https"},
		{"x-forwarded-proto", hr.GetHeaders()["x-forwarded-proto"], "https"},
		{"x-forwarded-client-cert", hr.GetHeaders()["x-forwarded-client-cert"], ""},
		{"x-app", hr.GetHeaders()["x-app"], "a"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if hr.GetId() == "" || a.GetRequest().GetTime() == nil || hr.GetHeaders()["x-request-id"] == "" || dst.GetAddress() == nil {
		t.Errorf("id, time, x-request-id or destination address missing: %v", a)
	}
}

func testDenials(t *testing.T, h *harness, fake *fakeAuthz) {
	cert := chain(h.pki.good, h.pki.clientInter)
	for _, tc := range []struct {
		name    string
		respond func(*authv3.CheckRequest) (*authv3.CheckResponse, error)
		status  int
		header  string
		body    string
	}{
		{"denied", func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			return &authv3.CheckResponse{Status: &statuspb.Status{Code: int32(codes.PermissionDenied)},
				HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
					Status:  &typev3.HttpStatus{Code: typev3.StatusCode_MisdirectedRequest},
					Headers: []*corev3.HeaderValueOption{hv("x-why", "because", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)},
					Body:    "nope",
				}}}, nil
		}, http.StatusMisdirectedRequest, "because", "nope"},
		{"denied without details", func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			return &authv3.CheckResponse{Status: &statuspb.Status{Code: int32(codes.PermissionDenied)}}, nil
		}, http.StatusForbidden, "", ""},
		{"error", func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			return nil, status.Error(codes.Unavailable, "down")
		}, http.StatusServiceUnavailable, "", ""},
		{"timeout", func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			time.Sleep(400 * time.Millisecond) // the filter's timeout is 250 ms
			return okWith(&authv3.OkHttpResponse{})(nil)
		}, http.StatusServiceUnavailable, "", ""},
	} {
		fake.answer(tc.respond)
		resp, err := h.client(call{url: "https://" + enforceSite + "/", sni: enforceSite, cert: cert}).Get("https://" + enforceSite + "/")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("X-Why") != tc.header || string(body) != tc.body {
			t.Errorf("%s: got %d %q %q, want %d %q %q", tc.name, resp.StatusCode, resp.Header.Get("X-Why"), body, tc.status, tc.header, tc.body)
		}
	}
	if errs := h.px.Errors(); len(errs) != 0 {
		t.Errorf("denials and errors are not violations: %v", errs)
	}
}

// testViolations: answers using what the stand-in does not implement are
// a 500 and an error, never ignored.
func testViolations(t *testing.T, h *harness, fake *fakeAuthz) {
	cert := chain(h.pki.good, h.pki.clientInter)
	for _, tc := range []struct {
		name, want string
		resp       *authv3.CheckResponse
	}{
		{"dynamic metadata", "dynamic_metadata", &authv3.CheckResponse{Status: &statuspb.Status{},
			HttpResponse:    &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
			DynamicMetadata: &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("v")}}}},
		{"response headers", "response_headers_to_add", &authv3.CheckResponse{Status: &statuspb.Status{},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				ResponseHeadersToAdd: []*corev3.HeaderValueOption{hv("x", "y", 0)}}}}},
		{"pseudo-header", `":path"`, &authv3.CheckResponse{Status: &statuspb.Status{},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers: []*corev3.HeaderValueOption{hv(":path", "/admin", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)}}}}},
	} {
		before := len(h.px.Errors())
		fake.answer(func(*authv3.CheckRequest) (*authv3.CheckResponse, error) { return tc.resp, nil })
		resp, e, err := h.do(t, call{url: "https://" + enforceSite + "/", cert: cert})
		if err != nil || resp.StatusCode != http.StatusInternalServerError || e != nil {
			t.Errorf("%s: %v %v, want a 500", tc.name, resp, err)
		}
		errs := h.px.Errors()
		if len(errs) != before+1 || !errors.Is(errs[before], standin.ErrViolation) || !strings.Contains(errs[before].Error(), tc.want) {
			t.Errorf("%s: errors %v, want a violation naming %s", tc.name, errs[before:], tc.want)
		}
	}
}
