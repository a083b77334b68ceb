package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// do sends one HTTP request to the admin address and returns status and body.
func (e *env) do(t *testing.T, token, method, path, ctype string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+e.addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestHTTPWalkthrough(t *testing.T) {
	e := start(t)
	root := testpki.NewRoot(t, "Web Clients", testpki.Options{})
	req := siteReq(t, "app.example.com")
	siteJSON, _ := protojson.Marshal(req)

	code, _, body := e.do(t, e.admin, "POST", "/v1/sites", "application/json", siteJSON)
	if code != 200 || strings.Contains(string(body), "PRIVATE KEY") || !strings.Contains(string(body), `"origin_url"`) {
		t.Fatalf("create site: %d %s", code, body)
	}
	// A PEM upload with curl --data-binary: name and sites in the query.
	code, _, body = e.do(t, e.admin, "POST", "/v1/cas?name=web-clients&sites=app.example.com", "application/x-pem-file", root.PEM())
	if code != 200 {
		t.Fatalf("upload CA: %d %s", code, body)
	}
	var ca pb.ClientCA
	if err := protojson.Unmarshal(body, &ca); err != nil || len(ca.GetSites()) != 1 || ca.GetCertificateCount() != 1 {
		t.Fatalf("CA response: %v %s", err, body)
	}
	// JSON with the bundle in base64, sent the way curl -d sends it.
	other := testpki.NewRoot(t, "JSON CA", testpki.Options{})
	code, _, body = e.do(t, e.admin, "POST", "/v1/cas", "application/x-www-form-urlencoded",
		[]byte(`{"name": "json-ca", "bundle": "`+base64.StdEncoding.EncodeToString(other.PEM())+`"}`))
	if code != 200 || !strings.Contains(string(body), `"json-ca"`) {
		t.Fatalf("JSON CA upload: %d %s", code, body)
	}
	code, _, body = e.do(t, e.admin, "PATCH", "/v1/sites/app.example.com/settings", "application/json",
		[]byte(`{"settings": {"mode": "MODE_ENFORCE"}, "update_mask": ["mode"]}`))
	if code != 200 || !strings.Contains(string(body), `"mode": "MODE_ENFORCE"`) {
		t.Fatalf("settings: %d %s", code, body)
	}
	code, _, body = e.do(t, e.admin, "PATCH", "/v1/sites/app.example.com", "application/json",
		[]byte(`{"site": {"origin_url": "https://10.1.2.3"}, "update_mask": ["origin_url"]}`))
	if code != 200 || !strings.Contains(string(body), "https://10.1.2.3") {
		t.Fatalf("update site: %d %s", code, body)
	}
	code, _, body = e.do(t, e.admin, "PATCH", "/v1/cas/"+ca.GetId(), "application/json",
		[]byte(`{"crl_urls": ["http://pki.example/issuing.crl"], "update_mask": ["crl_urls"]}`))
	if code != 200 || !strings.Contains(string(body), "http://pki.example/issuing.crl") || !strings.Contains(string(body), `"web-clients"`) {
		t.Fatalf("set CRL URLs: %d %s", code, body)
	}
	code, _, body = e.do(t, e.admin, "PATCH", "/v1/cas/"+ca.GetId(), "application/json",
		[]byte(`{"crl_urls": ["ldap://dir.example/cn=ca"], "update_mask": ["crl_urls"]}`))
	if code != 400 || !strings.Contains(string(body), "crl_urls") {
		t.Fatalf("an ldap CRL URL: %d %s", code, body)
	}
	code, _, body = e.do(t, e.admin, "PATCH", "/v1/cas/"+ca.GetId(), "application/json",
		[]byte(`{"ocsp_url": "http://ocsp.pki.example", "ocsp_nonce": true, "update_mask": ["ocsp_url", "ocsp_nonce"]}`))
	if code != 200 || !strings.Contains(string(body), `"ocsp_url": "http://ocsp.pki.example"`) || !strings.Contains(string(body), `"ocsp_nonce": true`) {
		t.Fatalf("set the OCSP responder: %d %s", code, body)
	}
	code, _, body = e.do(t, e.admin, "PATCH", "/v1/sites/app.example.com/settings", "application/json",
		[]byte(`{"settings": {"revocation": {"ocsp": "OCSP_CHECK_LEAF", "on_ocsp_unavailable": "OCSP_FAILURE_ACTION_ALLOW"}}, "update_mask": ["revocation.ocsp", "revocation.on_ocsp_unavailable"]}`))
	if code != 200 || !strings.Contains(string(body), `"ocsp": "OCSP_CHECK_LEAF"`) || !strings.Contains(string(body), `"on_ocsp_unknown": "OCSP_FAILURE_ACTION_DENY"`) {
		t.Fatalf("OCSP settings: %d %s", code, body)
	}
	crl := root.CRL(t, 1, time.Now(), time.Now().Add(time.Hour))
	code, _, body = e.do(t, e.admin, "POST", "/v1/crls", "application/pkix-crl", crl)
	if code != 200 || !strings.Contains(string(body), ca.GetId()) {
		t.Fatalf("upload CRL: %d %s", code, body)
	}
	code, _, body = e.do(t, e.admin, "GET", "/v1/sites/app.example.com", "", nil)
	if code != 200 || strings.Contains(string(body), "PRIVATE KEY") || strings.Contains(string(body), "private_key_pem") {
		t.Fatalf("get site leaks the key: %d %s", code, body)
	}
	code, _, body = e.do(t, e.admin, "POST", "/v1/tokens", "application/json", []byte(`{"role": "ROLE_VIEWER"}`))
	var tok pb.CreateTokenResponse
	if code != 200 || protojson.Unmarshal(body, &tok) != nil || tok.GetSecret() == "" || strings.Contains(string(body), "secret_sha256") {
		t.Fatalf("create token: %d %s", code, body)
	}
	code, _, _ = e.do(t, tok.GetSecret(), "GET", "/v1/sites", "", nil)
	if code != 200 {
		t.Fatalf("viewer read: %d", code)
	}
	code, _, body = e.do(t, tok.GetSecret(), "DELETE", "/v1/sites/app.example.com", "", nil)
	assertError(t, code, body, 403, "permission_denied")
	code, _, body = e.do(t, e.admin, "DELETE", "/v1/cas/"+ca.GetId(), "", nil)
	assertError(t, code, body, 409, "failed_precondition")
	code, _, _ = e.do(t, e.admin, "DELETE", "/v1/cas/"+ca.GetId()+"?force=true", "", nil)
	if code != 200 {
		t.Fatalf("forced delete: %d", code)
	}
}

func TestHTTPErrors(t *testing.T) {
	e := start(t)
	cases := []struct {
		name, token, method, path, ctype, body string
		status                                 int
		code, msg                              string
	}{
		{"no token", "", "GET", "/v1/cas", "", "", 401, "unauthenticated", "bearer token"},
		{"unknown route", "admin", "GET", "/v1/nothing", "", "", 404, "not_found", "no API route"},
		{"bad JSON", "admin", "POST", "/v1/tokens", "application/json", "{", 400, "invalid_argument", "CreateTokenRequest"},
		{"unknown field", "admin", "POST", "/v1/tokens", "application/json", `{"rolez": 1}`, 400, "invalid_argument", "rolez"},
		{"unknown parameter", "admin", "GET", "/v1/crls/x?colour=red", "", "", 400, "invalid_argument", "colour"},
		{"bad bool", "admin", "DELETE", "/v1/cas/x?force=maybe", "", "", 400, "invalid_argument", "force"},
		{"missing site", "admin", "GET", "/v1/sites/nope.example.com", "", "", 404, "not_found", "nope.example.com"},
		{"bad bundle", "admin", "POST", "/v1/cas?name=x", "application/x-pem-file", "junk", 400, "invalid_argument", "bundle"},
		{"bad audit limit", "admin", "GET", "/v1/audit?limit=5000", "", "", 400, "invalid_argument", "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token
			if tok == "admin" {
				tok = e.admin
			}
			code, hdr, body := e.do(t, tok, tc.method, tc.path, tc.ctype, []byte(tc.body))
			assertError(t, code, body, tc.status, tc.code)
			if !strings.Contains(string(body), tc.msg) {
				t.Errorf("body %s does not mention %q", body, tc.msg)
			}
			if tc.status == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func assertError(t *testing.T, status int, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	var e struct{ Code, Message string }
	if err := json.Unmarshal(body, &e); err != nil || status != wantStatus || e.Code != wantCode || e.Message == "" {
		t.Fatalf("got %d %s, want %d with code %q", status, body, wantStatus, wantCode)
	}
}

// TestGRPCNeverReturnsKeys reads a site back over gRPC.
func TestGRPCNeverReturnsKeys(t *testing.T) {
	e := start(t)
	c := e.client(e.admin)
	ctx := context.Background()
	if _, err := c.CreateSite(ctx, siteReq(t, "app.example.com")); err != nil {
		t.Fatal(err)
	}
	site, err := c.GetSite(ctx, &pb.GetSiteRequest{Hostname: "app.example.com"})
	if err != nil || site.GetServerCertificate().GetInline().GetPrivateKeyPem() != "" || site.GetServerCertificate().GetInline().GetCertificateChainPem() == "" {
		t.Fatalf("GetSite: %v", err)
	}
	list, _ := c.ListSites(ctx, &pb.ListSitesRequest{})
	toks, _ := c.ListTokens(ctx, &pb.ListTokensRequest{})
	for _, m := range []proto.Message{list, toks} {
		b, _ := protojson.Marshal(m)
		if strings.Contains(string(b), "PRIVATE KEY") || strings.Contains(string(b), "secretSha256") {
			t.Fatalf("secret material in %s", b)
		}
	}
}
