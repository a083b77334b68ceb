package api_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestDenyOverHTTP: the JSON routes add, list and remove entries; hostile
// input is refused 400 naming the field; a duplicate is 409; the audit log
// names what each entry blocks.
func TestDenyOverHTTP(t *testing.T) {
	e := start(t)
	c := e.client(e.admin)
	if _, err := c.CreateSite(context.Background(), siteReq(t, "app.example.com")); err != nil {
		t.Fatal(err)
	}
	fp := strings.Repeat("AB:", 31) + "AB"
	for _, bad := range []struct{ body, field string }{
		{`{"entry": {"sha256_fingerprint": "abc"}}`, "sha256_fingerprint"},
		{`{"entry": {}}`, "sha256_fingerprint"},
		{`{"entry": {"issuer_name_der": "AAAA", "serial": "01"}}`, "issuer_name_der"},
		{`{"entry": {"issuer": "CN=Nobody", "serial": "zz"}}`, "serial"},
		{`{"entry": {"sha256_fingerprint": "` + fp + `", "site": "nope.example.com"}}`, "site"},
		{`{"entry": {"sha256_fingerprint": "` + fp + `", "expires_at": "2001-01-01T00:00:00Z"}}`, "expires_at"},
	} {
		code, _, body := e.do(t, e.admin, "POST", "/v1/deny", "application/json", []byte(bad.body))
		if code != 400 || !strings.Contains(string(body), bad.field+":") {
			t.Errorf("%s: %d %s, want 400 naming %s", bad.body, code, body, bad.field)
		}
	}
	body := []byte(`{"entry": {"sha256_fingerprint": "` + fp + `", "site": "app.example.com", "comment": "stolen"}}`)
	code, _, out := e.do(t, e.admin, "POST", "/v1/deny", "application/json", body)
	if code != 200 || !strings.Contains(string(out), strings.Repeat("ab", 32)) {
		t.Fatalf("create: %d %s", code, out)
	}
	if code, _, out := e.do(t, e.admin, "POST", "/v1/deny", "application/json", body); code != 409 {
		t.Fatalf("duplicate: %d %s", code, out)
	}
	if code, _, out := e.do(t, e.admin, "GET", "/v1/deny?site=app.example.com", "", nil); code != 200 || !strings.Contains(string(out), `"comment": "stolen"`) {
		t.Fatalf("GET /v1/deny: %d %s", code, out)
	}
	if code, _, out := e.do(t, e.admin, "GET", "/v1/deny?site=other.example.com", "", nil); code != 200 || strings.Contains(string(out), "stolen") {
		t.Fatalf("GET /v1/deny of another site: %d %s", code, out)
	}
	list, err := c.ListDenyEntries(context.Background(), &pb.ListDenyEntriesRequest{Site: "app.example.com"})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetComment() != "stolen" {
		t.Fatalf("list: %v %v", list, err)
	}
	id := list.GetEntries()[0].GetId()
	if code, _, out := e.do(t, e.admin, "DELETE", "/v1/deny/"+id, "", nil); code != 200 {
		t.Fatalf("delete: %d %s", code, out)
	}
	if code, _, _ := e.do(t, e.admin, "DELETE", "/v1/deny/"+id, "", nil); code != 404 {
		t.Fatalf("delete again: %d", code)
	}
	audit, err := c.ListAuditEvents(context.Background(), &pb.ListAuditEventsRequest{Object: "deny/"})
	if err != nil {
		t.Fatal(err)
	}
	var ok, refused int
	for _, ev := range audit.GetEvents() {
		if !strings.Contains(ev.GetMessage()+ev.GetObject(), strings.Repeat("ab", 32)) && ev.GetResult() != "invalid_argument" && ev.GetResult() != "not_found" {
			t.Errorf("audit event without the fingerprint: %v", ev)
		}
		if ev.GetResult() == "ok" {
			ok++
		} else {
			refused++
		}
	}
	if ok != 2 || refused != 8 {
		t.Fatalf("audit: %d ok, %d refused: %v", ok, refused, audit.GetEvents())
	}
}

// TestDenySiteManagerScope: a site-manager adds and removes the entries
// of its own sites, naming the site, and nothing account-wide or of
// another site; it lists its sites' entries and the account-wide ones.
func TestDenySiteManagerScope(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	c := e.client(e.admin)
	for _, h := range []string{"mine.example.com", "other.example.com"} {
		if _, err := c.CreateSite(ctx, siteReq(t, h)); err != nil {
			t.Fatal(err)
		}
	}
	root := testpki.NewRoot(t, "Scope Root", testpki.Options{})
	if _, err := c.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: "root", Bundle: root.PEM()}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.CreateToken(ctx, &pb.CreateTokenRequest{Role: pb.Role_ROLE_SITE_MANAGER, Sites: []string{"mine.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	sm := e.client(tok.GetSecret())
	entry := func(site, serial string) *pb.CreateDenyEntryRequest {
		return &pb.CreateDenyEntryRequest{Entry: &pb.DenyEntry{Issuer: root.Cert.Subject.String(), Serial: serial, Site: site}}
	}
	mine, err := sm.CreateDenyEntry(ctx, entry("mine.example.com", "01"))
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"", "other.example.com"} {
		if _, err := sm.CreateDenyEntry(ctx, entry(site, "02")); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("site-manager on %q: %v", site, err)
		}
	}
	wide, err := c.CreateDenyEntry(ctx, entry("", "03"))
	if err != nil {
		t.Fatal(err)
	}
	others, err := c.CreateDenyEntry(ctx, entry("other.example.com", "04"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := sm.ListDenyEntries(ctx, &pb.ListDenyEntriesRequest{})
	if err != nil || len(list.GetEntries()) != 2 {
		t.Fatalf("site-manager's list: %v %v", list, err)
	}
	if _, err := sm.ListDenyEntries(ctx, &pb.ListDenyEntriesRequest{Site: "other.example.com"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("listing another site: %v", err)
	}
	for _, r := range []*pb.DeleteDenyEntryRequest{{Id: wide.GetId()}, {Id: others.GetId(), Site: "other.example.com"}} {
		if _, err := sm.DeleteDenyEntry(ctx, r); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("site-manager deletes %v: %v", r, err)
		}
	}
	if _, err := sm.DeleteDenyEntry(ctx, &pb.DeleteDenyEntryRequest{Id: others.GetId(), Site: "mine.example.com"}); status.Code(err) != codes.NotFound {
		t.Fatalf("another site's entry named as its own: %v", err)
	}
	if _, err := sm.DeleteDenyEntry(ctx, &pb.DeleteDenyEntryRequest{Id: mine.GetId(), Site: "mine.example.com"}); err != nil {
		t.Fatal(err)
	}
}
