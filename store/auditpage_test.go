package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/store"
)

// TestAuditPagesOverTime: pages walk the log newest first without gaps or
// repeats whatever the events' spacing in time: bursts within a second,
// and gaps of minutes to months (the windowed reads that keep a page's
// cost bounded on etcd must find them all).
func TestAuditPagesOverTime(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := store.Open(ctx, openBackend(t, t.TempDir()), store.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []string
	gaps := []time.Duration{time.Microsecond, time.Millisecond, 90 * time.Second, 3 * time.Hour, 40 * 24 * time.Hour, time.Nanosecond}
	for i := range 150 {
		clock = clock.Add(gaps[i%len(gaps)])
		ev := s.NewAuditEvent(store.Actor{TokenID: fmt.Sprint("t", i%3)}, "site/x", "ok", "")
		if err := s.AppendAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
		want = append([]string{ev.GetId()}, want...)
	}
	for _, limit := range []int{1, 7, 50, 1000} {
		var got []string
		before := ""
		for {
			page, next, err := s.ListAudit(ctx, store.AuditQuery{Limit: limit, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range page {
				got = append(got, ev.GetId())
			}
			if next == "" {
				break
			}
			before = next
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: %d events, want %d, in order", limit, len(got), len(want))
		}
	}
	mine, _, err := s.ListAudit(ctx, store.AuditQuery{Actor: "t1", Limit: 1000})
	if err != nil || len(mine) != 50 {
		t.Fatalf("actor filter: %d events, %v", len(mine), err)
	}
}
