package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

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
	return openStoreOn(t, etcd.Options{Endpoints: c.Endpoints(), TLS: c.ClientTLS(), Prefix: prefix}, ring, io.Discard)
}

// openStoreOn opens a store on o (short timeouts, a fast probe), logging
// to w.
func openStoreOn(t *testing.T, o etcd.Options, ring *seal.Keyring, w io.Writer) *store.Store {
	t.Helper()
	o.DialTimeout, o.RequestTimeout = 2*time.Second, 2*time.Second
	b, err := etcd.Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.Context(), b, store.Options{Keyring: ring, ProbeInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(w, nil))})
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

// TestReplicaBehindACompactionRebuilds: a store cut off from the cluster
// while the others write and the history is compacted past where it
// stopped comes back, finds its watch compacted, reloads, and holds every
// write.
func TestReplicaBehindACompactionRebuilds(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Members: 3})
	ring := seal.MustGenerate()
	// lonely talks to member 2 only; busy to members 0 and 1.
	var log syncBuffer
	lonely := openStoreAt(t, c.Members[2].ClientURL, ring, &log)
	busy := openStoreAt(t, c.Members[0].ClientURL, ring, io.Discard)
	c.Members[2].Kill()
	c.WaitReady(t) // a new leader, if member 2 led
	var ids []string
	for i := range 3 {
		ca, err := busy.CreateCA(t.Context(), actor, fmt.Sprint("while-away-", i), testpki.NewRoot(t, fmt.Sprint("Away Root ", i), testpki.Options{}).PEM(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ca.GetId())
	}
	waitFor(t, busy, time.Second, func(st *store.State) bool { return len(st.CAs()) == 3 })
	cli := c.Client(t)
	resp, err := cli.Get(t.Context(), "/shared/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(t.Context(), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	c.Members[2].Restart(t)
	waitFor(t, lonely, 20*time.Second, func(st *store.State) bool {
		for _, id := range ids {
			if st.CA(id) == nil {
				return false
			}
		}
		return true
	})
	if !strings.Contains(log.String(), "store watch ended; reloading") || !strings.Contains(log.String(), "compacted") {
		t.Fatalf("the store did not reload after a compacted watch; its log:\n%s", log.String())
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openStoreAt opens a store under /shared/ through one endpoint, logging
// to w.
func openStoreAt(t *testing.T, endpoint string, ring *seal.Keyring, w io.Writer) *store.Store {
	t.Helper()
	return openStoreOn(t, etcd.Options{Endpoints: []string{endpoint}, Prefix: "/shared/"}, ring, w)
}
