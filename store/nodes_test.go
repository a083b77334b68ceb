package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestInternalCAIsCreatedOnce: concurrent first starts agree on one CA and
// a later call returns it without creating another.
func TestInternalCAIsCreatedOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Limits{})
	if s.Current().InternalCA() != nil {
		t.Fatal("a new store has an internal CA")
	}
	var made atomic.Int32
	create := func() (*pb.InternalCA, error) {
		n := made.Add(1)
		return &pb.InternalCA{CertificatePem: string(rune('A' + n))}, nil
	}
	var wg sync.WaitGroup
	got := make([]*pb.InternalCA, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ca, err := s.EnsureInternalCA(ctx, create)
			if err != nil {
				t.Error(err)
			}
			got[i] = ca
		}()
	}
	wg.Wait()
	for _, ca := range got[1:] {
		if ca.GetCertificatePem() != got[0].GetCertificatePem() {
			t.Fatalf("replicas disagree on the internal CA: %q vs %q", ca.GetCertificatePem(), got[0].GetCertificatePem())
		}
	}
	before := made.Load()
	ca, err := s.EnsureInternalCA(ctx, create)
	if err != nil || ca.GetCertificatePem() != got[0].GetCertificatePem() || made.Load() != before {
		t.Fatalf("EnsureInternalCA on a store with a CA: %v, %v, created %d more", ca, err, made.Load()-before)
	}
	if _, err := s.EnsureInternalCA(ctx, func() (*pb.InternalCA, error) { return nil, errors.New("boom") }); err != nil {
		t.Fatalf("an existing CA must not call create: %v", err)
	}
}

func TestNodeCertificates(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Limits{})
	now := time.Now()
	valid := func(nc *pb.NodeCertificate) *pb.NodeCertificate {
		nc.NotBefore, nc.NotAfter = timestamppb.New(now.Add(-time.Minute)), timestamppb.New(now.Add(time.Hour))
		return nc
	}
	nc := valid(&pb.NodeCertificate{Serial: "0A1B", Fleet: "eu", NodeId: "edge-1", Sha256Fingerprint: strings.Repeat("c0", 32)})
	if err := s.RecordNodeCertificate(ctx, admin, nc); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordNodeCertificate(ctx, admin, nc); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("recording a serial twice: %v", err)
	}
	for _, bad := range []*pb.NodeCertificate{
		valid(&pb.NodeCertificate{Serial: "0a1c", Fleet: "eu", NodeId: "edge-1"}),
		valid(&pb.NodeCertificate{Serial: "", Fleet: "eu", NodeId: "edge-1"}),
		valid(&pb.NodeCertificate{Serial: "0A1D", Fleet: "e/u", NodeId: "edge-1"}),
		valid(&pb.NodeCertificate{Serial: "0A1E", Fleet: "eu", NodeId: ""}),
		{Serial: "0A1F", Fleet: "eu", NodeId: "edge-1"},
	} {
		if err := s.RecordNodeCertificate(ctx, admin, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("RecordNodeCertificate(%v) = %v, want invalid", bad, err)
		}
	}
	if !s.Current().NodeServable("0A1B", now) {
		t.Fatal("a recorded, valid, unrevoked certificate is not servable")
	}
	for what, at := range map[string]time.Time{"before": now.Add(-time.Hour), "after": now.Add(2 * time.Hour)} {
		if s.Current().NodeServable("0A1B", at) {
			t.Errorf("servable %s its validity", what)
		}
	}
	if s.Current().NodeServable("FFFF", now) {
		t.Fatal("a serial the store never recorded is servable")
	}
	if _, err := s.RevokeNodeCertificate(ctx, admin, "ffff"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoking an unknown serial: %v", err)
	}
	got, err := s.RevokeNodeCertificate(ctx, admin, "0a1b") // any case
	if err != nil || got.GetRevokedAt() == nil || got.GetRevokedBy() != admin.TokenID {
		t.Fatalf("revoke: %v, %v", got, err)
	}
	if s.Current().NodeServable("0A1B", now) {
		t.Fatal("servable after revocation")
	}
	if _, err := s.RevokeNodeCertificate(ctx, admin, "0A1B"); !errors.Is(err, store.ErrFailedPrecondition) {
		t.Fatalf("revoking twice: %v", err)
	}
	if n := len(s.Current().NodeCertificates()); n != 1 {
		t.Fatalf("%d node certificates listed, want 1", n)
	}
	// The issue and the revocation are audited with the certificate's
	// serial, fingerprint and identity.
	events, _, err := s.ListAudit(ctx, store.AuditQuery{Object: "node/eu/edge-1", Result: "ok"})
	if err != nil || len(events) != 2 {
		t.Fatalf("audit: %v %v", events, err)
	}
	for _, ev := range events {
		for _, want := range []string{"serial 0A1B", "sha256 " + nc.GetSha256Fingerprint(), "spiffe://mtlsgate/fleet/eu/node/edge-1"} {
			if !strings.Contains(ev.GetMessage(), want) {
				t.Errorf("audit message %q lacks %q", ev.GetMessage(), want)
			}
		}
	}
}

// TestPruneNodeCertificates deletes only records expired before the
// cutoff, in batches, and leaves the rest listed and revocable.
func TestPruneNodeCertificates(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Limits{})
	now := time.Now()
	for i := range 1203 {
		notAfter := now.Add(-48 * time.Hour)
		if i%2 == 0 {
			notAfter = now.Add(48 * time.Hour)
		}
		nc := &pb.NodeCertificate{Serial: fmt.Sprintf("%04X", i+1), Fleet: "eu", NodeId: "n",
			NotBefore: timestamppb.New(now.Add(-72 * time.Hour)), NotAfter: timestamppb.New(notAfter)}
		if err := s.RecordNodeCertificate(ctx, admin, nc); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneNodeCertificates(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 601 {
		t.Fatalf("pruned %d, %v; want 601", n, err)
	}
	if left := len(s.Current().NodeCertificates()); left != 602 {
		t.Fatalf("%d records left, want 602", left)
	}
	if n, err := s.PruneNodeCertificates(ctx, now.Add(-24*time.Hour)); n != 0 || err != nil {
		t.Fatalf("second prune: %d, %v", n, err)
	}
}
