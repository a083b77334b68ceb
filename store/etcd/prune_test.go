package etcd_test

import (
	"fmt"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/seal"
)

// TestPruneMoreThanATransactionHolds: pruning more records than etcd
// takes in one transaction (--max-txn-ops 128) goes in batches. A batch
// of 1,000 was refused as too large, and nothing was pruned.
func TestPruneMoreThanATransactionHolds(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	s := openStore(t, c, "/prune/", seal.MustGenerate())
	root := testpki.NewRoot(t, "Pruned Root", testpki.Options{})
	ca, err := s.CreateCA(t.Context(), actor, "pruned", root.PEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 150
	for i := range n {
		if _, err := s.LearnCRLSource(t.Context(), actor, fmt.Sprintf("http://pki.example/%d.crl", i), pki.IssuerKeyOf(root.Cert), "fp"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteCA(t.Context(), actor, ca.GetId(), false); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PruneCRLSources(t.Context()); err != nil || got != n {
		t.Fatalf("pruned %d (%v), want %d", got, err, n)
	}
	if left := len(s.Current().CRLSources()); left != 0 {
		t.Fatalf("%d sources left", left)
	}
}
