package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// fetchStatusPrefix holds the CRL fetcher's statuses: outside configPrefix,
// so that writing one rebuilds no State and wakes no consumer, and without
// an audit event (they are observations, not configuration).
const fetchStatusPrefix = "status/crlfetch/"

// PutCRLFetchStatus records what the fetcher last did with one source,
// for every replica's API (CRLFetchStatuses).
func (s *Store) PutCRLFetchStatus(ctx context.Context, st *pb.CRLFetchStatus) error {
	b, err := proto.Marshal(st)
	if err != nil {
		return err
	}
	return s.blindWrite(ctx, Op{Key: fetchStatusPrefix + CRLSourceID(st.GetUrl()), Value: b})
}

// DeleteCRLFetchStatus forgets the status of a source no longer fetched.
func (s *Store) DeleteCRLFetchStatus(ctx context.Context, url string) error {
	return s.blindWrite(ctx, Op{Key: fetchStatusPrefix + CRLSourceID(url), Delete: true})
}

// blindWrite applies op without a guard: statuses have one writer, the
// elected fetcher, and the last write wins.
func (s *Store) blindWrite(ctx context.Context, op Op) error {
	if _, err := s.txn(ctx, nil, []Op{op}); err != nil {
		return commitError(ctx, err)
	}
	return nil
}

// CRLFetchStatuses reads every fetch status from the backend, sorted by
// URL. A record that does not decode is an error naming its key.
func (s *Store) CRLFetchStatuses(ctx context.Context) ([]*pb.CRLFetchStatus, error) {
	kvs, _, err := s.b.Range(ctx, Prefix(fetchStatusPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: read fetch statuses: %v", ErrUnavailable, err)
	}
	out := make([]*pb.CRLFetchStatus, 0, len(kvs))
	for _, kv := range kvs {
		st := new(pb.CRLFetchStatus)
		if err := proto.Unmarshal(kv.Value, st); err != nil {
			return nil, fmt.Errorf("store: fetch status %s does not decode: %w", kv.Key, err)
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *pb.CRLFetchStatus) int { return strings.Compare(a.GetUrl(), b.GetUrl()) })
	return out, nil
}
