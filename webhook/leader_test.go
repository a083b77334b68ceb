package webhook_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/etcd"
)

// TestOnlyTheLeaderSends: two replicas on one etcd each run a dispatcher
// under the election; every event is delivered once (one request per
// event), whichever replica recorded it; when the leader stops, the other
// takes over from the cursor in the store and delivers what follows, once.
func TestOnlyTheLeaderSends(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	ring := seal.MustGenerate()
	var stores [2]*store.Store
	for i := range stores {
		b, err := etcd.Open(t.Context(), etcd.Options{Endpoints: c.Endpoints(), TLS: c.ClientTLS(), Prefix: "/hooks/",
			DialTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if stores[i], err = store.Open(t.Context(), b, store.Options{Keyring: ring}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	rcv := newReceiver(t, secret, func(int) int { return http.StatusOK })
	addWebhook(t, stores[0], rcv.srv.URL, secret, store.EventCertificateDenied)
	var rs [2]*running
	for i, s := range stores {
		rs[i] = start(t, fast(s), false)
	}
	leader := -1
	eventually(t, "a leader's first scan", func() bool {
		for i, r := range rs {
			if r.scans.Load() > 0 {
				leader = i
			}
		}
		return leader >= 0
	})
	deny(t, stores[0], "a1")
	deny(t, stores[1], "b2")
	finished(t, stores[0], 2)
	rs[leader].waitScans(t, 3)
	follower := 1 - leader
	if n := rs[follower].scans.Load(); n != 0 {
		t.Fatalf("the follower scanned %d times", n)
	}
	rs[leader].stop()
	rs[follower].waitScans(t, 1)
	deny(t, stores[leader], "c3")
	finished(t, stores[0], 3)
	rs[follower].waitScans(t, 3)
	seen := map[string]int{}
	for _, r := range rcv.requests() {
		seen[r.event["id"].(string)]++
	}
	if len(seen) != 3 {
		t.Fatalf("%d distinct events delivered, want 3: %v", len(seen), seen)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s delivered %d times", id, n)
		}
	}
}
