package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/etcd"
	"github.com/mtlsgate/mtlsgate/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// largeRequests fits the suite's largest value (32 MiB).
const largeRequests = 40 << 20

var prefixes atomic.Int64

// opener opens, for each subtest, a backend under a prefix of its own on
// c: an empty keyspace.
func opener(c *etcdtest.Cluster) func(t *testing.T) store.Backend {
	return func(t *testing.T) store.Backend {
		t.Helper()
		b, err := etcd.Open(t.Context(), etcd.Options{Endpoints: c.Endpoints(), TLS: c.ClientTLS(),
			Prefix: fmt.Sprintf("/suite/%d/", prefixes.Add(1)), MaxRequestBytes: largeRequests, RequestTimeout: 60 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
}

// compact makes the revisions up to rev unavailable: etcd keeps the
// revision it compacts at, so it compacts at rev+1, written first when
// rev is the newest.
func compact(t *testing.T, b store.Backend, rev int64) {
	t.Helper()
	cur, err := b.Txn(t.Context(), nil, []store.Op{{Key: "\x00compact/tick", Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.(*etcd.Backend).Compact(t.Context(), min(rev+1, cur)); err != nil {
		t.Fatal(err)
	}
}

func TestConformanceOneMemberTLS(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{TLS: true, MaxRequestBytes: largeRequests})
	storetest.RunBackendTests(t, opener(c))
	storetest.RunCompactionTests(t, opener(c), compact)
}

func TestConformanceThreeMembers(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Members: 3, MaxRequestBytes: largeRequests})
	storetest.RunBackendTests(t, opener(c))
	storetest.RunCompactionTests(t, opener(c), compact)
}

// TestRefusesClientWithoutCertificate: a cluster that requires client
// certificates refuses a backend without one, and Open says so.
func TestRefusesClientWithoutCertificate(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{TLS: true})
	cfg := c.ClientTLS()
	cfg.Certificates = nil
	_, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints(), TLS: cfg, DialTimeout: 2e9, RequestTimeout: 2e9})
	if err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("Open without a client certificate: %v", err)
	}
}

// TestTooLargeIsRefusedBeforeSending: a transaction over the cluster's
// limits fails with ErrTooLarge, naming the flag, and writes nothing.
func TestTooLargeIsRefusedBeforeSending(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	b, err := etcd.Open(t.Context(), etcd.Options{Endpoints: c.Endpoints(), Prefix: "/too-large/"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	big := []store.Op{{Key: "big", Value: make([]byte, 2<<20)}}
	many := make([]store.Op, etcd.DefaultMaxTxnOps+1)
	for i := range many {
		many[i] = store.Op{Key: fmt.Sprint("k", i), Value: []byte("v")}
	}
	for name, ops := range map[string][]store.Op{"--max-request-bytes": big, "--max-txn-ops": many} {
		if _, err := b.Txn(t.Context(), nil, ops); !errors.Is(err, etcd.ErrTooLarge) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if kvs, _, err := b.Range(t.Context(), store.Range{}); err != nil || len(kvs) != 0 {
		t.Fatalf("after refused transactions: %d keys, %v", len(kvs), err)
	}
}
