package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// InternalCA returns mtlsgate's own CA, or nil before EnsureInternalCA.
func (s *State) InternalCA() *pb.InternalCA { return s.internalCA }

// NodeCertificate returns the node certificate with serial (uppercase
// hex), or nil.
func (s *State) NodeCertificate(serial string) *pb.NodeCertificate { return s.nodes[serial] }

// NodeCertificates returns every node certificate, sorted by serial.
func (s *State) NodeCertificates() []*pb.NodeCertificate { return sortedValues(s.nodes) }

// NodeServable reports whether a node certificate with serial (uppercase
// hex, as pki.SerialHex) may be served at now: the store must have
// recorded it (it was issued through the API), it must not be revoked, and
// now must be within its validity. Everything else is refused, so that a
// certificate the store does not know (signed by an operator's CA outside
// the API, or whose record was pruned after it expired) never
// authenticates a node.
func (s *State) NodeServable(serial string, now time.Time) bool {
	nc := s.nodes[serial]
	if nc == nil || nc.GetRevokedAt() != nil {
		return false
	}
	return !now.Before(nc.GetNotBefore().AsTime()) && now.Before(nc.GetNotAfter().AsTime())
}

// setInternalCA applies the internal CA's record; its key is sealed at
// rest (secretRecords) and opened here.
func (b *builder) setInternalCA(kv KV, del bool) error {
	if del {
		b.st.internalCA = nil
		return nil
	}
	ca := new(pb.InternalCA)
	keyIDs, err := decodeRecord(b.ring, kv, ca)
	if err != nil {
		return err
	}
	if slices.Contains(keyIDs, "") {
		b.plain = append(b.plain, kv.Key)
	}
	b.st.internalCA = ca
	return nil
}

// EnsureInternalCA returns the internal CA, creating it with create when
// the store has none. Replicas that start at once agree on one CA: the
// write is refused when another got in first, and its CA is returned.
// create runs outside the write (it makes a key) and at most once.
func (s *Store) EnsureInternalCA(ctx context.Context, create func() (*pb.InternalCA, error)) (*pb.InternalCA, error) {
	if ca := s.Current().InternalCA(); ca != nil {
		return ca, nil
	}
	ca, err := create()
	if err != nil {
		return nil, fmt.Errorf("store: create internal CA: %w", err)
	}
	a := Actor{TokenID: "system", Action: "CreateInternalCA"}
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.InternalCA() != nil {
			return nil, ErrAlreadyExists
		}
		return s.withAudit(a, InternalCARef, nil, internalCAKey, ca)
	})
	if errors.Is(err, ErrAlreadyExists) {
		return s.Current().InternalCA(), nil
	}
	if err != nil {
		return nil, err
	}
	return st.InternalCA(), nil
}

// RecordNodeCertificate stores the record of a certificate the internal CA
// has just issued, with its audit event.
func (s *Store) RecordNodeCertificate(ctx context.Context, a Actor, nc *pb.NodeCertificate) error {
	if err := (nodeid.Identity{Fleet: nc.GetFleet(), Node: nc.GetNodeId()}).Validate(); err != nil {
		return &ValidationError{Field: "node", Err: err}
	}
	if nc.GetSerial() == "" || strings.ToUpper(nc.GetSerial()) != nc.GetSerial() {
		return invalid("serial", "must be uppercase hex, got %q", nc.GetSerial())
	}
	if nc.GetNotBefore() == nil || nc.GetNotAfter() == nil {
		return invalid("not_after", "a node certificate record needs its validity")
	}
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.NodeCertificate(nc.GetSerial()) != nil {
			return nil, fmt.Errorf("%w: node certificate %s", ErrAlreadyExists, nc.GetSerial())
		}
		op, err := s.putOp(nodePrefix+nc.GetSerial(), nc)
		if err != nil {
			return nil, err
		}
		return s.auditWith(a, NodeRef(nc.GetFleet(), nc.GetNodeId()), nodeCertSummary("issued", nc), []Op{op})
	})
	return err
}

// nodeCertSummary is the audit message of a node certificate's issue or
// revocation: its serial, fingerprint, identity and validity.
func nodeCertSummary(what string, nc *pb.NodeCertificate) string {
	id := nodeid.Identity{Fleet: nc.GetFleet(), Node: nc.GetNodeId()}
	return fmt.Sprintf("%s node certificate serial %s sha256 %s for %s valid until %s",
		what, nc.GetSerial(), nc.GetSha256Fingerprint(), id.URI(), nc.GetNotAfter().AsTime().UTC().Format(time.RFC3339))
}

// RevokeNodeCertificate revokes a node certificate: from the State that
// records it on, xDS and ext_authz refuse the node.
func (s *Store) RevokeNodeCertificate(ctx context.Context, a Actor, serial string) (*pb.NodeCertificate, error) {
	serial = strings.ToUpper(serial)
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		cur := st.NodeCertificate(serial)
		if cur == nil {
			return nil, notFound("node certificate", serial)
		}
		if cur.GetRevokedAt() != nil {
			return nil, fmt.Errorf("%w: node certificate %s is already revoked", ErrFailedPrecondition, serial)
		}
		nc := proto.Clone(cur).(*pb.NodeCertificate)
		nc.RevokedAt = timestamppb.New(s.now())
		nc.RevokedBy = a.TokenID
		op, err := s.putOp(nodePrefix+serial, nc)
		if err != nil {
			return nil, err
		}
		return s.auditWith(a, NodeRef(nc.GetFleet(), nc.GetNodeId()), nodeCertSummary("revoked", nc), []Op{op})
	})
	if err != nil {
		return nil, err
	}
	return st.NodeCertificate(serial), nil
}

// pruneBatch bounds the records one pruning transaction deletes: with its
// audit event and the serial key it fits etcd's default --max-txn-ops
// (128), which a batch of 1,000 did not (the transaction was refused as
// too large and nothing was pruned).
const pruneBatch = 100

// PruneNodeCertificates deletes the records of node certificates that
// expired before cutoff: they can no longer authenticate, revoked or not.
// The deletions are audited (one event per transaction).
func (s *Store) PruneNodeCertificates(ctx context.Context, cutoff time.Time) (int, error) {
	a := Actor{TokenID: "system", Action: "PruneNodeCertificates"}
	total := 0
	for {
		n := 0
		_, err := s.commit(ctx, func(st *State) ([]Op, error) {
			var ops []Op
			for serial, nc := range st.nodes {
				if len(ops) == pruneBatch {
					break
				}
				if nc.GetNotAfter() != nil && nc.GetNotAfter().AsTime().Before(cutoff) {
					ops = append(ops, Op{Key: nodePrefix + serial, Delete: true})
				}
			}
			n = len(ops)
			if n == 0 {
				return nil, errNothingToPrune
			}
			return s.withAudit(a, ExpiredNodesRef(cutoff), ops, "", nil)
		})
		if errors.Is(err, errNothingToPrune) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		total += n
	}
}

var errNothingToPrune = errors.New("nothing to prune")
