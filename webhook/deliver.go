package webhook

import (
	"context"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// sendDue makes one attempt at every pending delivery that is due, at
// most Concurrency at a time, waits for them all, and records their
// outcomes: delivered, failed (a refusal, the attempts exhausted, the
// webhook gone or disabled), or pending with the next attempt's time.
func (t *term) sendDue(ctx context.Context) error {
	now := t.d.o.Now()
	n := 0
	for n < len(t.pending) && !t.pending[n].GetNextAttemptAt().AsTime().After(now) {
		n++
	}
	if n == 0 {
		return nil
	}
	due := t.pending[:n]
	updated := make([]*pb.WebhookDelivery, len(due))
	st := t.d.st.Current()
	sem := make(chan struct{}, t.d.o.Concurrency)
	var wg sync.WaitGroup
	for i, del := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			updated[i] = t.d.attempt(ctx, st.Webhook(del.GetWebhookId()), del)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err() // the attempts cut short are made again by the next leader
	}
	for i := 0; i < len(updated); i += store.MaxWebhookTxnOps {
		part := updated[i:min(i+store.MaxWebhookTxnOps, len(updated))]
		if err := t.d.st.WriteWebhookLog(ctx, store.WebhookWrite{Deliveries: part}); err != nil {
			return err
		}
	}
	rest := t.pending[n:]
	for _, u := range updated {
		if u.GetState() == store.DeliveryPending {
			rest = append(rest, u)
		}
	}
	t.pending = rest
	t.sortPending()
	return nil
}

// attempt makes one attempt at del for webhook w (nil when deleted) and
// returns the delivery updated with its outcome.
func (d *Dispatcher) attempt(ctx context.Context, w *pb.Webhook, del *pb.WebhookDelivery) *pb.WebhookDelivery {
	u := proto.Clone(del).(*pb.WebhookDelivery)
	var o outcome
	switch {
	case w == nil:
		o = outcome{err: "the webhook was deleted"}
	case !w.GetEnabled():
		o = outcome{err: "the webhook is disabled"}
	default:
		o = d.post(ctx, w, del)
		u.Attempts++
		u.LastAttemptAt = timestamppb.New(d.o.Now())
	}
	u.LastStatus, u.LastError = int32(o.status), clip(o.err, 512)
	switch {
	case o.err == "":
		u.State, u.NextAttemptAt = store.DeliveryDelivered, nil
		d.o.Metrics.delivered(u.GetEventType(), store.DeliveryDelivered)
	case o.retry && int(u.GetAttempts()) < d.o.MaxAttempts:
		u.NextAttemptAt = timestamppb.New(d.o.Now().Add(d.backoff(int(u.GetAttempts()))))
		d.o.Metrics.retried(u.GetEventType())
	default:
		u.State, u.NextAttemptAt = store.DeliveryFailed, nil
		d.o.Metrics.delivered(u.GetEventType(), store.DeliveryFailed)
		d.o.Log.Warn("webhook delivery failed", "webhook", u.GetWebhookId(), "delivery", u.GetId(), "type", u.GetEventType(),
			"attempts", u.GetAttempts(), "status", o.status, "err", o.err)
	}
	return u
}

// clip cuts s to at most n bytes (an error quoting a receiver's answer).
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
