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
	// Action, when set, returns only events of this API method, in any
	// case ("createsite" finds CreateSite).
	Action string
	// Object, when set, returns only events whose object contains it.
	Object string
	// Result, when set, returns only events with this result, or with
	// any result but AuditResultOK for AuditResultFailed.
	Result string
}

// AuditResultFailed is the Result filter standing for every result but
// AuditResultOK. No event has it as its own result.
const AuditResultFailed = "failed"

// auditScanBound is how many events one ListAudit call reads at most. A
// filter that matches little could otherwise make one call read the
// whole log (a year of events); with the bound a call costs at most this
// many reads, and a search that reaches it returns the id of the last
// event read as the next page's Before, so the caller continues from
// there. A variable so that tests can lower it.
var auditScanBound = 10000

// auditMaxBatch bounds one read of a filtered scan. Batches start at the
// page size and double, so a filter that matches often reads little more
// than the page, and one that matches rarely reads in large batches.
const auditMaxBatch = 1000

// match reports whether ev passes every filter of q.
func (q AuditQuery) match(ev *pb.AuditEvent) bool {
	switch {
	case q.Actor != "" && ev.GetActor() != q.Actor,
		q.Action != "" && !strings.EqualFold(ev.GetAction(), q.Action),
		q.Object != "" && !strings.Contains(ev.GetObject(), q.Object):
		return false
	}
	switch q.Result {
	case "":
		return true
	case AuditResultFailed:
		return ev.GetResult() != AuditResultOK
	}
	return ev.GetResult() == q.Result
}

// ListAudit returns one page of the events q selects, newest first, and
// the id to pass as Before for the next page ("" when the log's end was
// reached). It reads at most auditScanBound events: when it stops there,
// the page may hold fewer than Limit events (even none) and the id is
// that of the last event read.
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
	for read, batch := 0, limit; read < auditScanBound; batch = min(2*batch, max(limit, auditMaxBatch)) {
		n := min(batch, auditScanBound-read)
		kvs, err := s.newestAudit(ctx, end, hi, n)
		if err != nil {
			return nil, "", fmt.Errorf("store: list audit: %w", err)
		}
		for _, kv := range kvs {
			ev := new(pb.AuditEvent)
			if err := proto.Unmarshal(kv.Value, ev); err != nil {
				return nil, "", fmt.Errorf("store: decode %s: %w", kv.Key, err)
			}
			read++
			end = kv.Key
			if q.match(ev) {
				if out = append(out, ev); len(out) == limit {
					return out, ev.GetId(), nil
				}
			}
		}
		if len(kvs) < n {
			return out, "", nil
		}
		hi = s.auditTimeOf(end[len(auditPrefix):])
	}
	return out, end[len(auditPrefix):], nil
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
