package webhook

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// auditBatch is how many audit events one read takes.
const auditBatch = 200

// scan turns what happened since the last scan into deliveries: audit
// events after the cursor, then expiries and CRL fetch failures not yet
// reported.
func (t *term) scan(ctx context.Context) error {
	if err := t.scanAudit(ctx); err != nil {
		return err
	}
	hooks := t.d.st.Current().Webhooks()
	if len(hooks) == 0 {
		return nil
	}
	now := t.d.o.Now()
	notices := expiring(t.d.st.Current(), now, maxWindow(hooks))
	statuses, err := t.d.st.CRLFetchStatuses(ctx)
	if err != nil {
		return fmt.Errorf("read CRL fetch statuses: %w", err)
	}
	notices = append(notices, fetchFailures(statuses, now)...)
	return t.sendNotices(ctx, hooks, notices)
}

// maxWindow is the longest expiry window of hooks.
func maxWindow(hooks []*pb.Webhook) (w time.Duration) {
	for _, h := range hooks {
		w = max(w, h.GetExpiryWindow().AsDuration())
	}
	return w
}

// scanAudit reads the audit events after the cursor, older than the
// settle time, and records one transaction per event that makes deliveries
// (with the cursor moved past it), and the cursor at the end of each read.
func (t *term) scanAudit(ctx context.Context) error {
	for {
		before := t.d.o.Now().Add(-t.d.o.AuditSettle)
		evs, err := t.d.st.AuditEventsAfter(ctx, t.cursor, before, auditBatch)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for _, ev := range evs {
			e, ok := fromAudit(ev, t.d.st.NewWebhookDeliveryID())
			if !ok {
				continue
			}
			w := store.WebhookWrite{Deliveries: t.deliveries(e, t.d.st.Current().Webhooks(), nil), Cursor: ev.GetId()}
			if len(w.Deliveries) == 0 {
				continue
			}
			if err := t.write(ctx, w); err != nil {
				return err
			}
		}
		last := evs[len(evs)-1].GetId()
		if last != t.cursor {
			if err := t.d.st.WriteWebhookLog(ctx, store.WebhookWrite{Cursor: last}); err != nil {
				return err
			}
			t.cursor = last
		}
		if len(evs) < auditBatch {
			return nil
		}
	}
}

// deliveries returns one new delivery of e to each of hooks that wants it
// and passes keep (nil: every one).
func (t *term) deliveries(e Event, hooks []*pb.Webhook, keep func(*pb.Webhook) bool) []*pb.WebhookDelivery {
	var out []*pb.WebhookDelivery
	body := string(e.Body())
	now := timestamppb.New(t.d.o.Now())
	for _, h := range hooks {
		if wants(h, e.Type) && (keep == nil || keep(h)) {
			out = append(out, &pb.WebhookDelivery{Id: t.d.st.NewWebhookDeliveryID(), WebhookId: h.GetId(), EventId: e.ID,
				EventType: e.Type, CreatedAt: now, NextAttemptAt: now, State: store.DeliveryPending, Body: body})
		}
	}
	return out
}

// write records w and makes its deliveries pending here.
func (t *term) write(ctx context.Context, w store.WebhookWrite) error {
	if err := t.d.st.WriteWebhookLog(ctx, w); err != nil {
		return err
	}
	if w.Cursor != "" {
		t.cursor = w.Cursor
	}
	for _, n := range w.Notices {
		t.notices[n.ID()] = n.Until
	}
	t.pending = append(t.pending, w.Deliveries...)
	t.sortPending()
	return nil
}

// sendNotices makes deliveries of the notices each webhook has not had,
// within its window for expiries, each with its mark in the same
// transaction, in transactions of bounded size.
func (t *term) sendNotices(ctx context.Context, hooks []*pb.Webhook, notices []notice) error {
	now := t.d.o.Now()
	var w store.WebhookWrite
	for _, n := range notices {
		var marks []store.WebhookNotice
		keep := func(h *pb.Webhook) bool {
			m := store.WebhookNotice{Webhook: h.GetId(), Key: n.markKey(), Until: n.until}
			if _, sent := t.notices[m.ID()]; sent || n.typ != store.EventCRLFetchFailed && n.at.After(now.Add(h.GetExpiryWindow().AsDuration())) {
				return false
			}
			marks = append(marks, m)
			return true
		}
		e := Event{ID: t.d.st.NewWebhookDeliveryID(), Type: n.typ, Time: rfc3339(now), Object: n.object, Details: n.details}
		ds := t.deliveries(e, hooks, keep)
		if len(ds) == 0 {
			continue
		}
		if len(w.Deliveries)+len(ds) > store.MaxWebhookTxnOps/2 {
			if err := t.write(ctx, w); err != nil {
				return err
			}
			w = store.WebhookWrite{}
		}
		w.Deliveries, w.Notices = append(w.Deliveries, ds...), append(w.Notices, marks...)
	}
	return t.write(ctx, w)
}
