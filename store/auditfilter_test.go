package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/etcd"
)

// auditBackends runs f on a store over each backend, its clock set by
// the returned pointer: bbolt, and etcd when there is an etcd binary
// (ListAudit's windowed reads behave differently on each).
func auditBackends(t *testing.T, f func(t *testing.T, s *store.Store, clock *time.Time)) {
	open := map[string]func(t *testing.T) store.Backend{
		"bolt": func(t *testing.T) store.Backend { return openBackend(t, t.TempDir()) },
		"etcd": func(t *testing.T) store.Backend {
			c := etcdtest.Start(t, etcdtest.Options{})
			b, err := etcd.Open(t.Context(), etcd.Options{Endpoints: c.Endpoints(), TLS: c.ClientTLS(), Prefix: "/audit/"})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
	for _, name := range []string{"bolt", "etcd"} {
		t.Run(name, func(t *testing.T) {
			clock := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			s, err := store.Open(t.Context(), open[name](t), store.Options{Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			f(t, s, &clock)
		})
	}
}

// appendEvents appends n events, event i by token t<i%3>, of action
// actions[i%4] on object <kind>/<i>, with result results[i%5]; spaced from
// a nanosecond to weeks apart. It returns them newest first.
func appendEvents(t *testing.T, s *store.Store, clock *time.Time, n int) []*pb.AuditEvent {
	t.Helper()
	actions := []string{"CreateSite", "DeleteSite", "CreateCRL", "UpdateSiteSettings"}
	results := []string{"ok", "ok", "permission_denied", "ok", "invalid_argument"}
	gaps := []time.Duration{time.Nanosecond, time.Millisecond, 2 * time.Minute, 5 * time.Hour, 20 * 24 * time.Hour}
	var out []*pb.AuditEvent
	for i := range n {
		*clock = clock.Add(gaps[i%len(gaps)])
		kind := "site"
		if i%4 == 2 {
			kind = "crl"
		}
		ev := s.NewAuditEvent(store.Actor{TokenID: fmt.Sprint("t", i%3), Action: actions[i%4]},
			fmt.Sprintf("%s/%d.example.com", kind, i), results[i%5], "")
		if err := s.AppendAudit(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		out = append([]*pb.AuditEvent{ev}, out...)
	}
	return out
}

// ids lists the events' ids.
func ids(evs []*pb.AuditEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.GetId()
	}
	return out
}

// listAll pages through q with ListAudit and returns every event, and how
// many calls it took.
func listAll(t *testing.T, s *store.Store, q store.AuditQuery) ([]*pb.AuditEvent, int) {
	t.Helper()
	var all []*pb.AuditEvent
	for calls := 1; ; calls++ {
		page, next, err := s.ListAudit(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			return all, calls
		}
		if calls > 1000 {
			t.Fatal("paging does not end")
		}
		q.Before = next
	}
}

// TestAuditFilters: each filter, and several together, select the events
// a plain reading of the filter's definition selects, in order, whether
// read in one page or in pages of 7.
func TestAuditFilters(t *testing.T) {
	auditBackends(t, func(t *testing.T, s *store.Store, clock *time.Time) {
		log := appendEvents(t, s, clock, 120)
		for _, c := range []struct {
			q    store.AuditQuery
			want func(ev *pb.AuditEvent) bool
		}{
			{store.AuditQuery{Action: "createsite"}, func(ev *pb.AuditEvent) bool { return ev.GetAction() == "CreateSite" }},
			{store.AuditQuery{Action: "CreateSite"}, func(ev *pb.AuditEvent) bool { return ev.GetAction() == "CreateSite" }},
			{store.AuditQuery{Action: "Create"}, func(*pb.AuditEvent) bool { return false }},
			{store.AuditQuery{Object: "crl/"}, func(ev *pb.AuditEvent) bool { return ev.GetAction() == "CreateCRL" }},
			{store.AuditQuery{Object: "/11"}, func(ev *pb.AuditEvent) bool {
				n := strings.TrimSuffix(ev.GetObject()[strings.Index(ev.GetObject(), "/")+1:], ".example.com")
				return n == "11" || len(n) == 3 && n[:2] == "11"
			}},
			{store.AuditQuery{Result: "ok"}, func(ev *pb.AuditEvent) bool { return ev.GetResult() == "ok" }},
			{store.AuditQuery{Result: "failed"}, func(ev *pb.AuditEvent) bool { return ev.GetResult() != "ok" }},
			{store.AuditQuery{Result: "invalid_argument"}, func(ev *pb.AuditEvent) bool { return ev.GetResult() == "invalid_argument" }},
			{store.AuditQuery{Result: "not_found"}, func(*pb.AuditEvent) bool { return false }},
			{store.AuditQuery{Actor: "t1", Action: "deletesite", Object: "site/", Result: "failed"}, func(ev *pb.AuditEvent) bool {
				return ev.GetActor() == "t1" && ev.GetAction() == "DeleteSite" && ev.GetResult() != "ok"
			}},
		} {
			var want []string
			for _, ev := range log {
				if c.want(ev) {
					want = append(want, ev.GetId())
				}
			}
			c.q.Limit = 1000
			one, _ := listAll(t, s, c.q)
			c.q.Limit = 7
			paged, _ := listAll(t, s, c.q)
			if fmt.Sprint(ids(one)) != fmt.Sprint(want) || fmt.Sprint(ids(paged)) != fmt.Sprint(want) {
				t.Errorf("%+v: %d events in one page, %d in pages of 7; want %d", c.q, len(one), len(paged), len(want))
			}
		}
	})
}

// TestAuditScanBound: a call reads at most the bound of events (lowered
// to 10 here). A filter that matches little then returns short pages,
// even empty ones, whose next_before is the last event read, and paging
// on finds every match; a page filled before the bound ends at its last
// match; the log's end gives no next_before.
func TestAuditScanBound(t *testing.T) {
	store.SetAuditScanBound(t, 10)
	auditBackends(t, func(t *testing.T, s *store.Store, clock *time.Time) {
		log := appendEvents(t, s, clock, 35) // log[0] is the newest
		// Event 20 (log[14]) and event 0 (log[34]) are the only CreateSite
		// events on a name ending in 0.
		q := store.AuditQuery{Action: "CreateSite", Object: "0.example", Limit: 5}
		type page struct {
			events []string
			next   string
		}
		var got []page
		for {
			evs, next, err := s.ListAudit(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page{ids(evs), next})
			if q.Before = next; next == "" {
				break
			}
		}
		want := []page{
			{nil, log[9].GetId()},
			{[]string{log[14].GetId()}, log[19].GetId()},
			{nil, log[29].GetId()},
			{[]string{log[34].GetId()}, ""},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pages\n%v\nwant\n%v", got, want)
		}
		// Matches fill the page before the bound: it ends at its last.
		evs, next, err := s.ListAudit(t.Context(), store.AuditQuery{Result: "ok", Limit: 3})
		if err != nil || len(evs) != 3 || next != evs[2].GetId() {
			t.Errorf("full page: %v, next %q, %v", ids(evs), next, err)
		}
	})
}
