package api_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestRefusalsOverHTTP: the docs' example (docs/identities.md, "Refused
// kindly") works as written over JSON: verify_at and refusals (a page and
// a redirect, the oneof as "page" or "redirect_url") are stored and read
// back with the page's default content type; a bad URL is refused naming
// its path, and nothing changes.
func TestRefusalsOverHTTP(t *testing.T) {
	e := start(t)
	siteJSON, _ := protojson.Marshal(siteReq(t, "app.example.com"))
	if code, _, body := e.do(t, e.admin, "POST", "/v1/sites", "application/json", siteJSON); code != 200 {
		t.Fatalf("create site: %d %s", code, body)
	}
	code, _, body := e.do(t, e.admin, "PATCH", "/v1/sites/app.example.com/settings", "application/json", []byte(`{
  "settings": {"verify_at": "VERIFY_AT_REQUEST", "refusals": [
    {"reasons": ["none"], "page": {"content_type": "text/html", "body": "<h1>No certificate ({reason})</h1>"}},
    {"reasons": ["untrusted", "expired"], "redirect_url": "https://enroll.example.com/start?why={reason}"},
    {"reasons": ["*"], "page": {"status": 451, "body": "refused: {reason}"}}]},
  "update_mask": ["verify_at", "refusals"]}`))
	var got pb.ClientCertSettings
	if code != 200 || protojson.Unmarshal(body, &got) != nil {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	rs := got.GetRefusals()
	if got.GetVerifyAt() != pb.VerifyAt_VERIFY_AT_REQUEST || len(rs) != 3 || rs[0].GetPage().GetContentType() != "text/html" ||
		strings.Join(rs[1].GetReasons(), ",") != "expired,untrusted" || rs[1].GetRedirectUrl() != "https://enroll.example.com/start?why={reason}" ||
		rs[2].GetPage().GetStatus() != 451 || rs[2].GetPage().GetContentType() != "text/plain" {
		t.Fatalf("stored %s", body)
	}
	code, _, body = e.do(t, e.admin, "PATCH", "/v1/sites/app.example.com/settings", "application/json",
		[]byte(`{"settings": {"refusals": [{"reasons": ["none"], "page": {}}, {"reasons": ["expired"], "redirect_url": "ftp://x.example/"}]}, "update_mask": ["refusals"]}`))
	if code != 400 || !strings.Contains(string(body), "refusals[1].redirect_url: must start with http") {
		t.Fatalf("bad URL: %d %s", code, body)
	}
	code, _, body = e.do(t, e.admin, "GET", "/v1/sites/app.example.com/settings", "", nil)
	if code != 200 || !strings.Contains(string(body), "enroll.example.com") || strings.Contains(string(body), "ftp://") {
		t.Fatalf("after the refusal: %d %s", code, body)
	}
}
