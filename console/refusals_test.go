package console_test

import (
	"context"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestRefusalsPart: the settings form has the verify_at select; a page
// (HTML, its own status) and a redirect are added, the second taking a
// reason from the first; the API's refusal of a URL is shown next to
// its field with what was typed kept; a stale base is refused; remove.
func TestRefusalsPart(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	page := u.page()
	if !strings.Contains(page, `id="set-verify-at"`) || !strings.Contains(page, `<option value="VERIFY_AT_REQUEST">request</option>`) ||
		!strings.Contains(page, `id="refusals-empty"`) {
		t.Fatal("the page lacks the verify_at select or the empty refusals part")
	}
	oldBase := baseOf(t, page, "refusals/add")
	add := url.Values{"list_base": {oldBase}, "reasons": {"none, untrusted"}, "answer": {"page"}, "content_type": {"text/html"},
		"status": {"401"}, "body": {"<h1>{reason}</h1>\r\n<p>Enroll first.</p>"}}
	if code, loc := u.post("refusals/add", add, "", nil); code != 303 || !strings.Contains(loc, "refusal=added") {
		t.Fatalf("add a page: %d %s", code, loc)
	}
	page = u.page()
	redirect := url.Values{"list_base": {baseOf(t, page, "refusals/add")}, "reasons": {"untrusted"}, "answer": {"redirect"},
		"redirect": {" https://enroll.example.com/?why={reason} "}}
	if code, loc := u.post("refusals/add", redirect, "", nil); code != 303 {
		t.Fatalf("add a redirect: %d %s", code, loc)
	}
	want := []*pb.Refusal{
		{Reasons: []string{"none"}, Answer: &pb.Refusal_Page{Page: &pb.RefusalPage{Status: 401, ContentType: "text/html", Body: "<h1>{reason}</h1>\n<p>Enroll first.</p>"}}},
		{Reasons: []string{"untrusted"}, Answer: &pb.Refusal_RedirectUrl{RedirectUrl: "https://enroll.example.com/?why={reason}"}},
	}
	assertRefusals(t, settingsNow(r).GetRefusals(), want)
	page = html.UnescapeString(u.get("/ui/sites/app.example.com?refusal=added"))
	for _, s := range []string{"Refusal saved.", "page, status 401, text/html, 38 bytes", "<h1>{reason}</h1>", "redirect (302) to <code>https://enroll.example.com/?why={reason}</code>"} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	base := baseOf(t, u.page(), "refusals/add")
	bad := url.Values{"list_base": {base}, "reasons": {"expired"}, "answer": {"redirect"}, "redirect": {"ftp://enroll.example.com/"}}
	code, body := u.post("refusals/add", bad, "", nil)
	if got := fieldError(body, "refusal-redirect"); code != 422 || !strings.HasPrefix(got, "refusals[2].redirect_url: must start with http") ||
		!strings.Contains(body, `value="ftp://enroll.example.com/"`) {
		t.Errorf("refused URL: %d, field error %q", code, got)
	}
	code, body = u.post("refusals/add", url.Values{"list_base": {base}, "reasons": {"expired"}, "answer": {"page"}, "status": {"302"}}, "", nil)
	if got := fieldError(body, "refusal-status"); code != 422 || !strings.Contains(got, "400 to 599") {
		t.Errorf("bad status: %d, field error %q", code, got)
	}
	if code, _ := u.post("refusals/add", add, "", nil); code != 409 {
		t.Errorf("stale base: %d", code)
	}
	assertRefusals(t, settingsNow(r).GetRefusals(), want)
	if code, loc := u.post("refusals/remove", url.Values{"list_base": {base}, "index": {"0"}}, "", nil); code != 303 || !strings.Contains(loc, "refusal=removed") {
		t.Fatalf("remove: %d %s", code, loc)
	}
	assertRefusals(t, settingsNow(r).GetRefusals(), want[1:])
}

// TestRefusalsViewer: a viewer sees the refusals without controls, and
// the help says a handshake site's clients never see them.
func TestRefusalsViewer(t *testing.T) {
	r, _ := siteSetup(t)
	ctx := context.Background()
	if _, err := r.srv.Store().UpdateSettings(ctx, store.Actor{Action: "test"}, "app.example.com", &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE,
		Refusals: []*pb.Refusal{{Reasons: []string{"*"}, Answer: &pb.Refusal_RedirectUrl{RedirectUrl: "https://help.example.com/"}}}},
		[]string{"mode", "refusals"}); err != nil {
		t.Fatal(err)
	}
	_, viewer, err := r.srv.Store().CreateToken(ctx, store.Actor{Action: "test"}, "auditor", pb.Role_ROLE_VIEWER, nil)
	if err != nil {
		t.Fatal(err)
	}
	page := newUIClient(t, r, viewer).page()
	if !strings.Contains(page, `id="refusals-readonly"`) || strings.Contains(page, `id="refusal-add"`) ||
		regexp.MustCompile(`refusals/remove`).MatchString(page) || !strings.Contains(page, "https://help.example.com/") ||
		!strings.Contains(page, "This site verifies at the handshake") {
		t.Fatal("a viewer is offered the refusal forms, or does not see the refusals and the note")
	}
}

func assertRefusals(t *testing.T, got, want []*pb.Refusal) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("refusals %v, want %v", got, want)
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("refusals[%d] %v, want %v", i, got[i], want[i])
		}
	}
}
