package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Actor says who asks for a write and through which API action; a
// successful write records it in the audit log in the same transaction.
type Actor struct {
	// TokenID is the caller's token id ("" before authentication).
	TokenID string
	// Action is the API method, e.g. "CreateClientCA".
	Action     string
	RemoteAddr string
}

// AuditResultOK is the result of a write that was carried out.
const AuditResultOK = "ok"

// auditID returns an id that sorts by time: 16 hex digits of Unix
// nanoseconds, then 8 random hex digits against collisions.
func auditID(t time.Time) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%016x%s", t.UnixNano(), hex.EncodeToString(r[:]))
}

// Bounds of audit event fields, in bytes. Objects and messages may carry
// what a caller sent (a hostname in a path, an error quoting it), so every
// field is cut to its bound and made valid UTF-8 before it is stored: one
// event costs at most a few KiB whatever the request was.
const (
	MaxAuditObject  = 256
	MaxAuditMessage = 1024
	maxAuditShort   = 64 // actor, action, result, remote address
)

// NewAuditEvent returns the event for an action by a on object, its
// fields bounded and valid UTF-8.
func (s *Store) NewAuditEvent(a Actor, object, result, message string) *pb.AuditEvent {
	now := s.now()
	return &pb.AuditEvent{
		Id:         auditID(now),
		Time:       timestamppb.New(now),
		Actor:      clipField(a.TokenID, maxAuditShort),
		Action:     clipField(a.Action, maxAuditShort),
		Object:     clipField(object, MaxAuditObject),
		Result:     clipField(result, maxAuditShort),
		Message:    clipField(message, MaxAuditMessage),
		RemoteAddr: clipField(a.RemoteAddr, maxAuditShort),
	}
}

// clipField makes s valid UTF-8 and cuts it to at most n bytes on a rune
// boundary, marking a cut with "…".
func clipField(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	const mark = "…"
	n -= len(mark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}

// auditOp is the op recording a successful write in its own transaction.
func (s *Store) auditOp(a Actor, object Ref) (Op, error) {
	ev := s.NewAuditEvent(a, object.String(), AuditResultOK, "")
	return s.putOp(auditPrefix+ev.Id, ev)
}

// AppendAudit records an event on its own, for writes that were refused.
func (s *Store) AppendAudit(ctx context.Context, ev *pb.AuditEvent) error {
	op, err := s.putOp(auditPrefix+ev.GetId(), ev)
	if err != nil {
		return err
	}
	if _, err := s.b.Txn(ctx, nil, []Op{op}); err != nil {
		return fmt.Errorf("store: append audit event: %w", err)
	}
	return nil
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	// Limit is the page size (default 100, at most 1000).
	Limit int
	// Before, when set, returns only events older than this event id.
	Before string
	// Actor, when set, returns only this token's events.
	Actor string
}

// ListAudit returns one page of events, newest first, and the id to pass as
// Before for the next page ("" on the last page).
func (s *Store) ListAudit(ctx context.Context, q AuditQuery) ([]*pb.AuditEvent, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	end := PrefixEnd(auditPrefix)
	if q.Before != "" {
		end = auditPrefix + q.Before
	}
	hi := s.auditTimeOf(q.Before)
	var out []*pb.AuditEvent
	for len(out) < limit {
		kvs, err := s.newestAudit(ctx, end, hi, limit)
		if err != nil {
			return nil, "", fmt.Errorf("store: list audit: %w", err)
		}
		for _, kv := range kvs {
			ev := new(pb.AuditEvent)
			if err := proto.Unmarshal(kv.Value, ev); err != nil {
				return nil, "", fmt.Errorf("store: decode %s: %w", kv.Key, err)
			}
			if q.Actor == "" || ev.GetActor() == q.Actor {
				out = append(out, ev)
				if len(out) == limit {
					return out, ev.GetId(), nil
				}
			}
			end = kv.Key
		}
		if len(kvs) < limit {
			break
		}
		hi = s.auditTimeOf(end[len(auditPrefix):])
	}
	return out, "", nil
}

// PruneAudit deletes events older than cutoff and returns how many.
func (s *Store) PruneAudit(ctx context.Context, cutoff time.Time) (int, error) {
	end := auditPrefix + fmt.Sprintf("%016x", cutoff.UnixNano())
	total := 0
	for {
		kvs, _, err := s.b.Range(ctx, Range{Start: auditPrefix, End: end, Limit: 1000})
		if err != nil || len(kvs) == 0 {
			return total, err
		}
		ops := make([]Op, len(kvs))
		for i, kv := range kvs {
			ops[i] = Op{Key: kv.Key, Delete: true}
		}
		if _, err := s.b.Txn(ctx, nil, ops); err != nil {
			return total, fmt.Errorf("store: prune audit: %w", err)
		}
		total += len(kvs)
	}
}
