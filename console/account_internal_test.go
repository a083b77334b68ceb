package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
)

// fakeLog is an audit log of n events, ids "e<n-1>" (newest) down to "e0",
// served in pages of size like the API: events older than before.
func fakeLog(n, size int) (auditFetch, *int) {
	calls := 0
	return func(before string) ([]*pb.AuditEvent, string, error) {
		calls++
		start := n - 1
		if before != "" {
			b, err := strconv.Atoi(before[1:])
			if err != nil {
				return nil, "", errors.New("bad token")
			}
			start = b - 1
		}
		var out []*pb.AuditEvent
		for i := start; i >= 0 && len(out) < size; i-- {
			action := "CreateClientCA"
			if i%3 == 0 {
				action = "CreateCRL"
			}
			result := "ok"
			if i%5 == 0 {
				result = "permission_denied"
			}
			out = append(out, &pb.AuditEvent{Id: fmt.Sprintf("e%d", i), Action: action, Result: result, Object: fmt.Sprintf("ca/%d", i)})
		}
		next := ""
		if len(out) == size && start-size >= 0 {
			next = out[len(out)-1].GetId()
		}
		return out, next, nil
	}, &calls
}

func TestCollectAuditPages(t *testing.T) {
	fetch, _ := fakeLog(30, 7)
	f := auditFilter{Action: "createcrl"} // ids 27, 24, ..., 0: 10 events
	var got []string
	before, pages := "", 0
	for {
		p, err := collectAudit(fetch, f, before, 4, 1000)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, ev := range p.Events {
			got = append(got, ev.GetId())
		}
		if p.Next == "" {
			break
		}
		before = p.Next
	}
	want := "[e27 e24 e21 e18 e15 e12 e9 e6 e3 e0]"
	if fmt.Sprint(got) != want || pages != 3 {
		t.Errorf("pages %d, events %v; want 3 pages of %s", pages, got, want)
	}
}

func TestCollectAuditLastPageHasNoNext(t *testing.T) {
	fetch, _ := fakeLog(8, 4)
	p, err := collectAudit(fetch, auditFilter{}, "", 8, 1000)
	if err != nil || len(p.Events) != 8 || p.Next != "" {
		t.Errorf("got %d events, next %q, %v; want all 8 and no next page", len(p.Events), p.Next, err)
	}
	p, _ = collectAudit(fetch, auditFilter{}, "", 4, 1000)
	if p.Next != "e4" {
		t.Errorf("a full first page: next %q, want e4", p.Next)
	}
}

func TestCollectAuditScanCap(t *testing.T) {
	fetch, calls := fakeLog(100, 10)
	p, err := collectAudit(fetch, auditFilter{Action: "NoSuchAction"}, "", 5, 25)
	if err != nil || len(p.Events) != 0 || p.Scanned != 25 || p.Next != "e75" || *calls != 3 {
		t.Errorf("events %d, scanned %d, next %q, calls %d, %v", len(p.Events), p.Scanned, p.Next, *calls, err)
	}
}

func TestAuditFilterMatch(t *testing.T) {
	ev := &pb.AuditEvent{Action: "CreateCRL", Object: "crl", Result: "permission_denied"}
	for _, c := range []struct {
		f    auditFilter
		want bool
	}{
		{auditFilter{}, true},
		{auditFilter{Action: "createcrl"}, true},
		{auditFilter{Action: "CreateClientCA"}, false},
		{auditFilter{Object: "cr"}, true},
		{auditFilter{Object: "ca/"}, false},
		{auditFilter{Result: "failed"}, true},
		{auditFilter{Result: "ok"}, false},
		{auditFilter{Result: "permission_denied", Action: "CreateCRL"}, true},
	} {
		if got := c.f.match(ev); got != c.want {
			t.Errorf("%+v: %v, want %v", c.f, got, c.want)
		}
	}
}

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

// auditAPI serves a log of 120 events through ListAuditEvents and records
// the requests.
type auditAPI struct {
	*fakeAPI
	log  auditFetch
	reqs []*pb.ListAuditEventsRequest
}

func (f *auditAPI) ListAuditEvents(ctx context.Context, r *pb.ListAuditEventsRequest, _ ...grpc.CallOption) (*pb.ListAuditEventsResponse, error) {
	f.reqs = append(f.reqs, r)
	if err := authorised(ctx); err != nil || r.GetLimit() == 1 { // the sign-in probe
		return &pb.ListAuditEventsResponse{}, err
	}
	evs, next, err := f.log(r.GetBefore())
	return &pb.ListAuditEventsResponse{Events: evs, NextBefore: next}, err
}

func (f *auditAPI) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest, _ ...grpc.CallOption) (*pb.Token, error) {
	return &pb.Token{Id: "me", Role: pb.Role_ROLE_CA_MANAGER}, authorised(ctx)
}

func TestAuditPageFiltersAndPages(t *testing.T) {
	log, _ := fakeLog(120, auditBatch)
	api := &auditAPI{fakeAPI: &fakeAPI{}, log: log}
	c, err := New(Options{API: api, Sealer: seal.MustGenerate()})
	if err != nil {
		t.Fatal(err)
	}
	ck := signedIn(t, c)
	w := do(c, "GET", "/ui/audit?actor=t1&action=CreateClientCA", "", ck)
	body := w.Body.String()
	if w.Code != http.StatusOK || strings.Count(body, "<td>CreateClientCA</td>") != auditPageSize || strings.Contains(body, "<td>CreateCRL</td>") {
		t.Fatalf("first page: %d", w.Code)
	}
	last := api.reqs[len(api.reqs)-1]
	if last.GetActor() != "t1" || last.GetLimit() != auditBatch {
		t.Errorf("API asked %v", last)
	}
	// 80 of the 120 are CreateClientCA: the first page ends at e46, the next
	// holds the other 30.
	if !strings.Contains(body, `href="/ui/audit?action=CreateClientCA&amp;actor=t1&amp;before=e46"`) || !strings.Contains(body, `id="next-page"`) {
		t.Errorf("no next-page link to before=e46")
	}
	w = do(c, "GET", "/ui/audit?actor=t1&action=CreateClientCA&before=e46", "", ck)
	if body := w.Body.String(); strings.Count(body, "<td>CreateClientCA</td>") != 30 || strings.Contains(body, `id="next-page"`) || !strings.Contains(body, `id="first-page"`) {
		t.Errorf("last page: %d rows", strings.Count(body, "<td>CreateClientCA</td>"))
	}
}
