package etcd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/etcd"
)

var actor = store.Actor{TokenID: "test", Action: "Test"}

// openStore opens a store on the cluster under prefix, as one replica.
func openStore(t *testing.T, c *etcdtest.Cluster, prefix string, ring *seal.Keyring) *store.Store {
	t.Helper()
	b, err := etcd.Open(t.Context(), etcd.Options{Endpoints: c.Endpoints(), TLS: c.ClientTLS(), Prefix: prefix,
		DialTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.Context(), b, store.Options{Keyring: ring, ProbeInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// waitFor waits until s's State satisfies ok.
func waitFor(t *testing.T, s *store.Store, within time.Duration, ok func(*store.State) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	for st := s.Current(); !ok(st); {
		next, err := s.Next(ctx, st)
		if err != nil {
			t.Fatalf("State not reached within %v (at revision %d)", within, st.Rev)
		}
		st = next
	}
}

// TestTwoStoresShareOneCluster: two stores on one prefix (two replicas)
// see each other's writes within a second, through a three-member
// cluster; a store under another prefix sees none of them.
func TestTwoStoresShareOneCluster(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Members: 3})
	ring := seal.MustGenerate()
	a, b := openStore(t, c, "/shared/", ring), openStore(t, c, "/shared/", ring)
	other := openStore(t, c, "/other/", seal.MustGenerate())
	ca, err := a.CreateCA(t.Context(), actor, "through-a", testpki.NewRoot(t, "Replica Root", testpki.Options{}).PEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, time.Second, func(st *store.State) bool { return st.CA(ca.GetId()) != nil })
	if _, err := b.CreateCA(t.Context(), actor, "through-b", testpki.NewRoot(t, "Replica Root 2", testpki.Options{}).PEM(), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, time.Second, func(st *store.State) bool { return len(st.CAs()) == 2 })
	if n := len(other.Current().CAs()); n != 0 {
		t.Fatalf("the store under another prefix sees %d CAs", n)
	}
}

// TestStoreRidesOutAnOutage: with its only member down the store keeps
// its last State, reports itself unhealthy, refuses writes with
// ErrUnavailable (nothing half-written), and follows again by itself once
// the member is back.
func TestStoreRidesOutAnOutage(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	s := openStore(t, c, "/outage/", seal.MustGenerate())
	ca, err := s.CreateCA(t.Context(), actor, "before", testpki.NewRoot(t, "Outage Root", testpki.Options{}).PEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, time.Second, func(st *store.State) bool { return st.CA(ca.GetId()) != nil })
	before := s.Current()

	c.Members[0].Kill()
	healthy(t, s, false)
	_, err = s.CreateCA(t.Context(), actor, "during", testpki.NewRoot(t, "Outage Root 2", testpki.Options{}).PEM(), nil)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write with the cluster down: %v, want ErrUnavailable", err)
	}
	if s.Current() != before {
		t.Fatal("the State changed while the cluster was down")
	}

	c.Members[0].Restart(t)
	c.WaitReady(t)
	healthy(t, s, true)
	after, err := s.CreateCA(t.Context(), actor, "after", testpki.NewRoot(t, "Outage Root 3", testpki.Options{}).PEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, 10*time.Second, func(st *store.State) bool { return st.CA(after.GetId()) != nil })
	if n := len(s.Current().CAs()); n != 2 {
		t.Fatalf("%d CAs after the outage, want the 2 written while it was up", n)
	}
}

// healthy waits until s reports its backend answering (or not).
func healthy(t *testing.T, s *store.Store, ok bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for s.Health().OK != ok {
		if time.Now().After(deadline) {
			t.Fatalf("store health OK=%v, want %v (%v)", s.Health().OK, ok, s.Health().Err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h := s.Health(); !ok && (h.Err == nil || h.Since.IsZero()) {
		t.Fatalf("unhealthy without a reason or a time: %+v", h)
	}
}
