package console

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
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
