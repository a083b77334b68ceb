package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
)

func TestAuditURLKeepsFilter(t *testing.T) {
	u := auditURL(auditFilter{Action: "CreateCRL", Result: "ok"}, "e5")
	q, err := url.ParseQuery(u[len("/ui/audit?"):])
	if err != nil || q.Get("action") != "CreateCRL" || q.Get("result") != "ok" || q.Get("before") != "e5" || q.Has("actor") {
		t.Errorf("%s: %v %v", u, q, err)
	}
	if got := auditURL(auditFilter{}, ""); got != "/ui/audit" {
		t.Errorf("no filter: %s", got)
	}
}

func TestRoleNames(t *testing.T) {
	for _, n := range roleNames {
		if roleName(roleOf(n)) != n {
			t.Errorf("role %q does not round-trip: %v", n, roleOf(n))
		}
	}
	if roleOf("root") != pb.Role_ROLE_UNSPECIFIED {
		t.Error("unknown role parsed")
	}
	if got := splitSites("a.example, b.example\nc.example"); fmt.Sprint(got) != "[a.example b.example c.example]" {
		t.Errorf("sites %v", got)
	}
}

func TestCRLRowStaleAndSource(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	fetched := crlRowOf(&pb.CRL{Issuer: "CN=A", NextUpdate: timestamppb.New(now.Add(-time.Second)), FetchedFrom: "http://crl.example/a.crl"}, now)
	if !fetched.Stale || fetched.FetchedFrom != "http://crl.example/a.crl" {
		t.Errorf("past next update, fetched: %+v", fetched)
	}
	uploaded := crlRowOf(&pb.CRL{Issuer: "CN=A", NextUpdate: timestamppb.New(now.Add(time.Hour)), UploadedBy: "t1"}, now)
	if uploaded.Stale || uploaded.FetchedFrom != "" || uploaded.UploadedBy != "t1" {
		t.Errorf("fresh, uploaded: %+v", uploaded)
	}
}

// auditAPI answers ListAuditEvents with the page it holds for the
// request's before (or err), and records the requests: the API's own
// filtering and paging are tested in packages store and api.
type auditAPI struct {
	*fakeAPI
	pages map[string]*pb.ListAuditEventsResponse
	err   error
	reqs  []*pb.ListAuditEventsRequest
}

func (f *auditAPI) ListAuditEvents(ctx context.Context, r *pb.ListAuditEventsRequest, _ ...grpc.CallOption) (*pb.ListAuditEventsResponse, error) {
	f.reqs = append(f.reqs, r)
	if err := authorised(ctx); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	return f.pages[r.GetBefore()], nil
}

func (f *auditAPI) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest, _ ...grpc.CallOption) (*pb.Token, error) {
	return &pb.Token{Id: "me", Role: pb.Role_ROLE_CA_MANAGER}, authorised(ctx)
}

// auditEvents are n CreateClientCA events, ids e<from> down.
func auditEvents(from, n int) []*pb.AuditEvent {
	var out []*pb.AuditEvent
	for i := range n {
		out = append(out, &pb.AuditEvent{Id: fmt.Sprint("e", from-i), Action: "CreateClientCA", Result: "ok",
			Object: fmt.Sprint("ca/", from-i), Time: timestamppb.New(time.Unix(1_800_000_000, 0))})
	}
	return out
}

// auditConsole is a console on api, and its session cookie.
func auditConsole(t *testing.T, api *auditAPI) (*Console, *http.Cookie) {
	t.Helper()
	c, err := New(Options{API: api, Sealer: seal.MustGenerate()})
	if err != nil {
		t.Fatal(err)
	}
	return c, signedIn(t, c)
}

// TestAuditPageFiltersAndPages: the page passes every filter to the API
// with a limit of one page, shows what it returns, and links the older
// events with the filter kept and the API's next_before; the last page
// links only back to the newest.
func TestAuditPageFiltersAndPages(t *testing.T) {
	api := &auditAPI{fakeAPI: &fakeAPI{}, pages: map[string]*pb.ListAuditEventsResponse{
		"":    {Events: auditEvents(119, auditPageSize), NextBefore: "e70"},
		"e70": {Events: auditEvents(69, 30)},
	}}
	c, ck := auditConsole(t, api)
	w := do(c, "GET", "/ui/audit?actor=t1&action=CreateClientCA&object=+ca/+&result=ok", "", ck)
	body := w.Body.String()
	if w.Code != http.StatusOK || strings.Count(body, "<td>CreateClientCA</td>") != auditPageSize {
		t.Fatalf("first page: %d, %d rows", w.Code, strings.Count(body, "<td>CreateClientCA</td>"))
	}
	want := &pb.ListAuditEventsRequest{Limit: auditPageSize, Actor: "t1", Action: "CreateClientCA", Object: "ca/", Result: "ok"}
	if last := api.reqs[len(api.reqs)-1]; !proto.Equal(last, want) {
		t.Errorf("API asked %v, want %v", last, want)
	}
	if !strings.Contains(body, `href="/ui/audit?action=CreateClientCA&amp;actor=t1&amp;before=e70&amp;object=ca%2F&amp;result=ok"`) ||
		strings.Contains(body, `id="first-page"`) || strings.Contains(body, `id="audit-capped"`) {
		t.Errorf("first page: no next-page link to before=e70, or a link or notice too many")
	}
	w = do(c, "GET", "/ui/audit?actor=t1&action=CreateClientCA&object=ca/&result=ok&before=e70", "", ck)
	body = w.Body.String()
	if last := api.reqs[len(api.reqs)-1]; last.GetBefore() != "e70" || last.GetResult() != "ok" {
		t.Errorf("API asked %v", last)
	}
	if strings.Count(body, "<td>CreateClientCA</td>") != 30 || strings.Contains(body, `id="next-page"`) ||
		!strings.Contains(body, `id="first-page" href="/ui/audit?action=CreateClientCA&amp;actor=t1&amp;object=ca%2F&amp;result=ok"`) {
		t.Errorf("last page: %d rows", strings.Count(body, "<td>CreateClientCA</td>"))
	}
}

// TestAuditPageCutShort: a page the API's bound of events read cut short
// (fewer events than a page, a next_before all the same) says so and
// links on, empty or not.
func TestAuditPageCutShort(t *testing.T) {
	api := &auditAPI{fakeAPI: &fakeAPI{}, pages: map[string]*pb.ListAuditEventsResponse{
		"":     {NextBefore: "e900"},
		"e900": {Events: auditEvents(850, 2), NextBefore: "e300"},
	}}
	c, ck := auditConsole(t, api)
	body := do(c, "GET", "/ui/audit?result=failed", "", ck).Body.String()
	if !strings.Contains(body, `id="audit-empty">No event matches among the events read for this page.`) ||
		!strings.Contains(body, `id="audit-capped"`) || !strings.Contains(body, `href="/ui/audit?before=e900&amp;result=failed"`) {
		t.Errorf("empty page cut short:\n%s", body)
	}
	body = do(c, "GET", "/ui/audit?result=failed&before=e900", "", ck).Body.String()
	if strings.Count(body, "<td>CreateClientCA</td>") != 2 || !strings.Contains(body, `id="audit-capped"`) ||
		!strings.Contains(body, `href="/ui/audit?before=e300&amp;result=failed"`) {
		t.Errorf("page of 2 cut short:\n%s", body)
	}
}

// TestAuditPageBadFilter: a filter the API refuses is a 400 showing the
// API's message, the form keeping what was typed.
func TestAuditPageBadFilter(t *testing.T) {
	api := &auditAPI{fakeAPI: &fakeAPI{}, err: status.Error(codes.InvalidArgument, "action: must be an API method name")}
	c, ck := auditConsole(t, api)
	w := do(c, "GET", "/ui/audit?action=Create+Site", "", ck)
	body := w.Body.String()
	if w.Code != http.StatusBadRequest || !strings.Contains(body, "action: must be an API method name") ||
		!strings.Contains(body, `id="f-action" name="action" type="text" value="Create Site"`) {
		t.Errorf("bad filter: %d\n%s", w.Code, body)
	}
}
