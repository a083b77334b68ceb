package webhook

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Options shape a Dispatcher. Zero fields take the defaults named.
type Options struct {
	// Store is where webhooks, the audit log and the delivery log are.
	Store *store.Store
	// Period is how often new events are looked for (default 1 min).
	Period time.Duration
	// Timeout bounds one attempt: connecting, sending and the answer's
	// headers (default 10 s).
	Timeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts (default
	// 30 s doubling up to 1 h); MaxAttempts is the attempts of one
	// delivery before it fails (default 8).
	RetryMin, RetryMax time.Duration
	MaxAttempts        int
	// AuditSettle is how old an audit event must be before it is turned
	// into an event (default 5 s): a write that took long to commit, or
	// a replica's clock a little behind, may record an event with an
	// earlier id than one already read, and the settle time lets it land
	// first.
	AuditSettle time.Duration
	// KeepDeliveries and KeepFor bound the delivery log (default the
	// newest 10,000, none older than 30 days); PruneEvery is how often it
	// is pruned (default 1 h).
	KeepDeliveries int
	KeepFor        time.Duration
	PruneEvery     time.Duration
	// Concurrency bounds the attempts in flight (default 8).
	Concurrency int
	// RootCAs verifies receivers' certificates; the system roots when nil.
	RootCAs *x509.CertPool
	// Now is the clock of events and signatures (time.Now when nil).
	Now     func() time.Time
	Log     *slog.Logger
	Metrics *Metrics
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Period, time.Minute)
	def(&o.Timeout, 10*time.Second)
	def(&o.RetryMin, 30*time.Second)
	def(&o.RetryMax, time.Hour)
	def(&o.AuditSettle, 5*time.Second)
	def(&o.KeepFor, 30*24*time.Hour)
	def(&o.PruneEvery, time.Hour)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.KeepDeliveries <= 0 {
		o.KeepDeliveries = 10000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Dispatcher turns what happens into events and delivers them. Run it
// under the store's election (Store.Lead): every replica may hold one, but
// only the elected one runs, and it resumes from the store what the last
// one left (the audit cursor, the notices sent, the pending deliveries).
type Dispatcher struct {
	o      Options
	st     *store.Store
	client *http.Client
	// afterScan, when set (tests), runs after every scan.
	afterScan func()
}

// New returns a Dispatcher.
func New(o Options) *Dispatcher {
	o = o.withDefaults()
	return &Dispatcher{o: o, st: o.Store, client: newClient(o.Timeout, o.RootCAs)}
}

// Close releases the HTTP client's idle connections (after Run returned).
func (d *Dispatcher) Close() { d.client.CloseIdleConnections() }

// Run delivers until ctx ends (the leadership is lost, or the server
// stops), then returns once every attempt in flight has. A term that
// fails (the store unavailable) is logged and begun again after a Period.
func (d *Dispatcher) Run(ctx context.Context) {
	defer d.o.Metrics.setPending(0)
	for {
		err := d.term(ctx)
		if ctx.Err() != nil {
			return
		}
		d.o.Log.Warn("webhook dispatcher interrupted; resuming", "err", err, "after", d.o.Period)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.o.Period):
		}
	}
}

// term is the dispatcher's work from state loaded from the store: it
// returns on ctx's end or on the first failure to read or write the store.
type term struct {
	d       *Dispatcher
	cursor  string
	notices map[string]time.Time
	pending []*pb.WebhookDelivery // by next attempt
}

func (d *Dispatcher) term(ctx context.Context) error {
	t := &term{d: d}
	if err := t.load(ctx); err != nil {
		return err
	}
	nextScan, nextPrune := time.Time{}, time.Now().Add(d.o.PruneEvery)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		if now := time.Now(); !now.Before(nextScan) {
			if err := t.scan(ctx); err != nil {
				return err
			}
			nextScan = now.Add(d.o.Period)
			if d.afterScan != nil {
				d.afterScan()
			}
		}
		if now := time.Now(); !now.Before(nextPrune) {
			if err := t.prune(ctx); err != nil {
				return err
			}
			nextPrune = now.Add(d.o.PruneEvery)
		}
		if err := t.sendDue(ctx); err != nil {
			return err
		}
		d.o.Metrics.setPending(len(t.pending))
		timer.Reset(t.wait(nextScan))
	}
}

// wait is how long to sleep: until the next scan or the next attempt due.
func (t *term) wait(nextScan time.Time) time.Duration {
	next := nextScan
	if len(t.pending) > 0 {
		if due := t.pending[0].GetNextAttemptAt().AsTime(); due.Before(next) {
			next = due
		}
	}
	return max(time.Until(next), time.Millisecond)
}

// load reads what the last term left: the audit cursor (now, less the
// settle time, the first time ever: earlier history is not replayed), the
// notices sent, the pending deliveries.
func (t *term) load(ctx context.Context) error {
	st := t.d.st
	cursor, ok, err := st.WebhookAuditCursor(ctx)
	if err != nil {
		return err
	}
	if !ok {
		cursor = store.AuditCursorAt(t.d.o.Now().Add(-t.d.o.AuditSettle))
		if err := st.WriteWebhookLog(ctx, store.WebhookWrite{Cursor: cursor}); err != nil {
			return err
		}
	}
	t.cursor = cursor
	if t.notices, err = st.WebhookNotices(ctx); err != nil {
		return err
	}
	if t.pending, err = st.PendingWebhookDeliveries(ctx); err != nil {
		return err
	}
	t.sortPending()
	return nil
}

func (t *term) sortPending() {
	slices.SortStableFunc(t.pending, func(a, b *pb.WebhookDelivery) int {
		return a.GetNextAttemptAt().AsTime().Compare(b.GetNextAttemptAt().AsTime())
	})
}

// prune bounds the delivery log and forgets notices whose objects expired.
func (t *term) prune(ctx context.Context) error {
	now := t.d.o.Now()
	n, err := t.d.st.PruneWebhookLog(ctx, t.d.o.KeepDeliveries, now.Add(-t.d.o.KeepFor), now)
	if err != nil {
		return fmt.Errorf("prune the delivery log: %w", err)
	}
	if n > 0 {
		t.d.o.Log.Info("pruned the webhook delivery log", "records", n)
	}
	for id, until := range t.notices {
		if until.Before(now) {
			delete(t.notices, id)
		}
	}
	return nil
}
