package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The webhook dispatcher's records: the delivery log, the audit cursor and
// the expiry notices already sent. Like the audit log and the CRL fetch
// statuses they live outside configPrefix, so writing them rebuilds no
// State and wakes no xDS or ext_authz consumer, and they are not audited
// (they are observations of the elected dispatcher, its only writer).
const (
	// webhookLogPrefix holds deliveries by id; ids sort by creation time.
	webhookLogPrefix = "status/webhook/delivery/"
	// webhookCursorKey holds the id of the last audit event the
	// dispatcher turned into events.
	webhookCursorKey = "status/webhook/audit-cursor"
	// webhookNoticePrefix holds, by webhook id then notice key, the
	// once-only events sent (an object's expiry in a webhook's window, a
	// CRL source's failure streak); the value is the RFC 3339 time after
	// which the mark may go.
	webhookNoticePrefix = "status/webhook/notice/"
)

// MaxWebhookTxnOps bounds the records of one WriteWebhookLog: etcd refuses
// transactions of more than 128 operations by default.
const MaxWebhookTxnOps = 100

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// NewWebhookDeliveryID returns a delivery id that sorts by creation time
// (like audit event ids).
func (s *Store) NewWebhookDeliveryID() string { return auditID(s.now()) }

// WebhookNotice marks a once-only event as sent to a webhook.
type WebhookNotice struct {
	// Webhook is the webhook's id; Key names the event's subject and
	// occasion (e.g. an object and its expiry time).
	Webhook, Key string
	// Until is when the mark may be pruned (the object expired).
	Until time.Time
}

// ID is the notice's key among all webhooks' (as WebhookNotices returns).
func (n WebhookNotice) ID() string { return n.Webhook + "/" + n.Key }

// WebhookWrite is one transaction of the dispatcher: new or updated
// deliveries, notices, and the audit cursor when Cursor is set.
type WebhookWrite struct {
	Deliveries []*pb.WebhookDelivery
	Notices    []WebhookNotice
	Cursor     string
}

// WriteWebhookLog applies w in one transaction (at most MaxWebhookTxnOps
// records). Its records have one writer, the elected dispatcher, and the
// last write wins.
func (s *Store) WriteWebhookLog(ctx context.Context, w WebhookWrite) error {
	ops := make([]Op, 0, len(w.Deliveries)+len(w.Notices)+1)
	for _, d := range w.Deliveries {
		b, err := proto.Marshal(d)
		if err != nil {
			return fmt.Errorf("store: encode delivery %s: %w", d.GetId(), err)
		}
		ops = append(ops, Op{Key: webhookLogPrefix + d.GetId(), Value: b})
	}
	for _, n := range w.Notices {
		ops = append(ops, Op{Key: webhookNoticePrefix + n.ID(), Value: []byte(n.Until.UTC().Format(time.RFC3339))})
	}
	if w.Cursor != "" {
		ops = append(ops, Op{Key: webhookCursorKey, Value: []byte(w.Cursor)})
	}
	if len(ops) > MaxWebhookTxnOps {
		return fmt.Errorf("store: webhook log write of %d records; at most %d", len(ops), MaxWebhookTxnOps)
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := s.txn(ctx, nil, ops); err != nil {
		return commitError(ctx, err)
	}
	return nil
}

// WebhookAuditCursor returns the id of the last audit event the dispatcher
// turned into events; ok is false before the first.
func (s *Store) WebhookAuditCursor(ctx context.Context) (string, bool, error) {
	kv, ok, err := s.b.Get(ctx, webhookCursorKey)
	if err != nil {
		return "", false, fmt.Errorf("%w: read webhook cursor: %v", ErrUnavailable, err)
	}
	return string(kv.Value), ok, nil
}

// AuditCursorAt returns a cursor standing for time t: every event recorded
// before t is at or before it.
func AuditCursorAt(t time.Time) string { return fmt.Sprintf("%016x", t.UnixNano()) }

// AuditEventsAfter returns up to limit audit events, oldest first, whose
// ids sort after after and whose times are before before. Reads ascend
// with a limit, which etcd bounds.
func (s *Store) AuditEventsAfter(ctx context.Context, after string, before time.Time, limit int) ([]*pb.AuditEvent, error) {
	if after >= AuditCursorAt(before) {
		return nil, nil // nothing settled after the cursor yet (or a clock behind the one that set it)
	}
	kvs, _, err := s.b.Range(ctx, Range{Start: auditPrefix + after + "\x00", End: auditKeyAt(before.UnixNano()), Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("%w: read audit log: %v", ErrUnavailable, err)
	}
	out := make([]*pb.AuditEvent, 0, len(kvs))
	for _, kv := range kvs {
		ev := new(pb.AuditEvent)
		if err := proto.Unmarshal(kv.Value, ev); err != nil {
			return nil, fmt.Errorf("store: decode %s: %w", kv.Key, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// WebhookNotices returns every notice mark, by WebhookNotice.ID, with the
// time after which it may go.
func (s *Store) WebhookNotices(ctx context.Context) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.scan(ctx, webhookNoticePrefix, func(kv KV) error {
		t, err := time.Parse(time.RFC3339, string(kv.Value))
		if err != nil {
			return fmt.Errorf("store: notice %s: %w", kv.Key, err)
		}
		out[strings.TrimPrefix(kv.Key, webhookNoticePrefix)] = t
		return nil
	})
	return out, err
}

// PendingWebhookDeliveries returns the deliveries still pending, oldest
// first: what a dispatcher taking over has to send.
func (s *Store) PendingWebhookDeliveries(ctx context.Context) ([]*pb.WebhookDelivery, error) {
	var out []*pb.WebhookDelivery
	err := s.scan(ctx, webhookLogPrefix, func(kv KV) error {
		d, err := decodeDelivery(kv)
		if err == nil && d.GetState() == DeliveryPending {
			out = append(out, d)
		}
		return err
	})
	return out, err
}

// scan calls fn on every key under prefix, in pages.
func (s *Store) scan(ctx context.Context, prefix string, fn func(KV) error) error {
	start, end := prefix, PrefixEnd(prefix)
	for {
		kvs, _, err := s.b.Range(ctx, Range{Start: start, End: end, Limit: 1000})
		if err != nil {
			return fmt.Errorf("%w: read %s: %v", ErrUnavailable, prefix, err)
		}
		for _, kv := range kvs {
			if err := fn(kv); err != nil {
				return err
			}
		}
		if len(kvs) < 1000 {
			return nil
		}
		start = kvs[len(kvs)-1].Key + "\x00"
	}
}

func decodeDelivery(kv KV) (*pb.WebhookDelivery, error) {
	d := new(pb.WebhookDelivery)
	if err := proto.Unmarshal(kv.Value, d); err != nil {
		return nil, fmt.Errorf("store: delivery %s does not decode: %w", kv.Key, err)
	}
	return d, nil
}

// ListWebhookDeliveries returns the newest deliveries, newest first: of
// every webhook, or of the one with webhookID. limit 0 is 100; at most
// 1000. Reads are ascending windows back from the end, each capped (as the
// audit log's pages: a descending read is not bounded on etcd), in batches
// doubling up to 1000; the log itself is bounded (PruneWebhookLog).
func (s *Store) ListWebhookDeliveries(ctx context.Context, webhookID string, limit int) ([]*pb.WebhookDelivery, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var out []*pb.WebhookDelivery
	end, hi := PrefixEnd(webhookLogPrefix), s.now().UnixNano()+1
	for batch := limit; ; batch = min(2*batch, 1000) {
		kvs, err := s.newestUnder(ctx, webhookLogPrefix, end, hi, batch)
		if err != nil {
			return nil, fmt.Errorf("%w: read delivery log: %v", ErrUnavailable, err)
		}
		for _, kv := range kvs {
			d, err := decodeDelivery(kv)
			if err != nil {
				return nil, err
			}
			if webhookID == "" || d.GetWebhookId() == webhookID {
				if out = append(out, d); len(out) == limit {
					return out, nil
				}
			}
			end = kv.Key
		}
		if len(kvs) < batch {
			return out, nil
		}
		hi = deliveryTime(end[len(webhookLogPrefix):]) + 1
	}
}

// PruneWebhookLog deletes the deliveries beyond the newest keep, those
// created before cutoff, and the notice marks whose time passed at now; it
// returns how many records went.
func (s *Store) PruneWebhookLog(ctx context.Context, keep int, cutoff, now time.Time) (int, error) {
	var keys []string
	if err := s.scan(ctx, webhookLogPrefix, func(kv KV) error { keys = append(keys, kv.Key); return nil }); err != nil {
		return 0, err
	}
	var drop []string
	for i, k := range keys {
		if i < len(keys)-keep || deliveryTime(k[len(webhookLogPrefix):]) < cutoff.UnixNano() {
			drop = append(drop, k)
		}
	}
	notices, err := s.WebhookNotices(ctx)
	if err != nil {
		return 0, err
	}
	for id, until := range notices {
		if until.Before(now) {
			drop = append(drop, webhookNoticePrefix+id)
		}
	}
	for i := 0; i < len(drop); i += MaxWebhookTxnOps {
		ops := make([]Op, 0, MaxWebhookTxnOps)
		for _, k := range drop[i:min(i+MaxWebhookTxnOps, len(drop))] {
			ops = append(ops, Op{Key: k, Delete: true})
		}
		if _, err := s.txn(ctx, nil, ops); err != nil {
			return i, commitError(ctx, err)
		}
	}
	return len(drop), nil
}

// deliveryTime is the creation time in a delivery id, in Unix nanoseconds
// (0 for an id that names none: pruned only by count).
func deliveryTime(id string) int64 {
	if len(id) < 16 {
		return 0
	}
	t, err := strconv.ParseInt(id[:16], 16, 64)
	if err != nil {
		return 0
	}
	return t
}
