package etcd_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/etcd"
)

// term records the terms of one candidate.
type term struct {
	running atomic.Bool
	ended   chan struct{} // gets a value when a term ends
}

// campaign runs Lead on b until the returned stop is called; every term
// marks the candidate running, and the leader count must never exceed one.
func campaign(t *testing.T, b *etcd.Backend, leaders *atomic.Int32) (*term, func()) {
	t.Helper()
	tm := &term{ended: make(chan struct{}, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		b.Lead(ctx, "maintenance", func(ctx context.Context) {
			if n := leaders.Add(1); n > 1 {
				t.Errorf("%d leaders at once", n)
			}
			tm.running.Store(true)
			<-ctx.Done()
			tm.running.Store(false)
			leaders.Add(-1)
			tm.ended <- struct{}{}
		})
	})
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return tm, stop
}

func backend(t *testing.T, c *etcdtest.Cluster) *etcd.Backend {
	t.Helper()
	b, err := etcd.Open(t.Context(), etcd.Options{Endpoints: c.Endpoints(), Prefix: "/lead/", DialTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// within waits until cond holds.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOneLeaderAndHandOver: of two replicas one leads; when it stops, the
// other takes over at once (the leader resigns).
func TestOneLeaderAndHandOver(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Members: 3})
	var leaders atomic.Int32
	a, stopA := campaign(t, backend(t, c), &leaders)
	within(t, 5*time.Second, "a leads", a.running.Load)
	b, _ := campaign(t, backend(t, c), &leaders)
	time.Sleep(500 * time.Millisecond)
	if b.running.Load() {
		t.Fatal("b leads beside a")
	}
	stopA()
	within(t, 3*time.Second, "b takes over", b.running.Load)
}

// TestLeaderCutOffStops: a leader that can no longer keep its lease alive
// (its cluster is gone) ends its term within the lease's lifetime.
func TestLeaderCutOffStops(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	var leaders atomic.Int32
	a, _ := campaign(t, backend(t, c), &leaders)
	within(t, 5*time.Second, "a leads", a.running.Load)
	c.Members[0].Kill()
	select {
	case <-a.ended:
	case <-time.After((etcd.LeaseTTL + 5) * time.Second):
		t.Fatal("the leader kept working after its lease could no longer be kept alive")
	}
}

// TestElectionKeysAreOutsideTheStore: a leader's election key is never in
// the store's keyspace, so a backup (or a reload) never holds it.
func TestElectionKeysAreOutsideTheStore(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	b := backend(t, c)
	var leaders atomic.Int32
	a, _ := campaign(t, b, &leaders)
	within(t, 5*time.Second, "a leads", a.running.Load)
	kvs, _, err := b.Range(t.Context(), store.Range{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		t.Errorf("the store's keyspace holds %q while a replica leads", kv.Key)
	}
	resp, err := c.Client(t).Get(t.Context(), "/lead.election/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 1 {
		t.Fatalf("election keys beside the prefix: %v, %v", resp, err)
	}
}
