package crlfetch

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/par"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/outbound"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Writer stores a fetched CRL through the validation of an upload;
// *store.Store is one. stored is false when the same CRL was already held
// (crl is then the held one).
type Writer interface {
	PutFetchedCRL(ctx context.Context, a store.Actor, data []byte, url string) (crl *pb.CRL, stored bool, err error)
}

// Getter sends the conditional GETs; *outbound.Client is one.
type Getter interface {
	Get(ctx context.Context, url string, cond outbound.Validators, maxBytes int64) (*outbound.Response, error)
}

// Options shape a Fetcher. Zero durations and fractions take the defaults.
type Options struct {
	Client Getter
	Store  Writer
	// MaxBytes bounds a CRL's body (the store's limits.max_crl_bytes).
	MaxBytes int64
	// RefreshAt is when a CRL is fetched again, as a fraction of its
	// lifetime (thisUpdate to nextUpdate) after its thisUpdate; default
	// 0.5. Each time is moved by up to ±5% of the lifetime, so that CRLs
	// published together are not fetched in one burst.
	RefreshAt float64
	// MinInterval and MaxInterval bound the time from one successful fetch
	// of a source to the next (defaults 1 min and 24 h; MaxInterval is the
	// interval for a CRL without nextUpdate).
	MinInterval, MaxInterval time.Duration
	// RetryMin and RetryMax bound the wait after a failure: RetryMin
	// after the first, doubling up to RetryMax, each drawn from its upper
	// half (defaults 30 s and 30 min).
	RetryMin, RetryMax time.Duration
	// Concurrency is how many sources are fetched at once (default 4).
	Concurrency int
	Log         *slog.Logger
	Metrics     *Metrics
	// Statuses, when set, keeps each source's status for every replica's
	// API, and gives a replica taking over its predecessor's.
	Statuses StatusStore
	// Now and Rand (in [0, 1)) are the clock and the jitter (defaults:
	// time.Now, math/rand/v2).
	Now  func() time.Time
	Rand func() float64
}

func (o *Options) defaults() {
	if !(o.RefreshAt > 0 && o.RefreshAt < 1) { // NaN too
		o.RefreshAt = 0.5
	}
	o.MinInterval = cmp(o.MinInterval, time.Minute)
	o.MaxInterval = cmp(o.MaxInterval, 24*time.Hour)
	o.RetryMin = cmp(o.RetryMin, 30*time.Second)
	o.RetryMax = cmp(o.RetryMax, 30*time.Minute)
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
}

func cmp(v, d time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return d
}

// Actor is who the audit log names for a fetched CRL.
var Actor = store.Actor{TokenID: "system:crl-fetcher", Action: "FetchCRL"}

// Fetcher fetches the CRLs of the latest model's sources. Load takes each
// model (any replica); Run fetches (the elected one).
type Fetcher struct {
	o      Options
	latest atomic.Pointer[model.Model]
	notify chan struct{} // a new model; capacity 1

	mu     sync.Mutex
	status map[string]Status // by URL, while Run runs
	name   string            // this replica, in stored statuses
}

// New returns a Fetcher.
func New(o Options) *Fetcher {
	o.defaults()
	return &Fetcher{o: o, notify: make(chan struct{}, 1), status: map[string]Status{}, name: replicaName()}
}

// Load hands the Fetcher a new model; it never blocks.
func (f *Fetcher) Load(m *model.Model) {
	f.latest.Store(m)
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// Statuses returns the status of every source, by URL, as of the last
// attempt (empty unless Run is running on this replica).
func (f *Fetcher) Statuses() []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Status, 0, len(f.status))
	for _, s := range f.status {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.URL, b.URL) })
	return out
}

// Run fetches until ctx ends: each source when due, then waits for the
// next due time or a new model. It returns when ctx ends (the lease lost),
// with every fetch it started finished.
func (f *Fetcher) Run(ctx context.Context) {
	sched := map[string]*source{}
	defer f.clear()
	stored := f.loadStored(ctx)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if m := f.latest.Load(); m != nil {
			f.sync(ctx, sched, m, stored)
		}
		f.fetchDue(ctx, sched)
		if ctx.Err() != nil {
			return
		}
		timer.Reset(f.untilNext(sched))
		select {
		case <-ctx.Done():
			return
		case <-f.notify:
		case <-timer.C:
		}
	}
}

// clear forgets the statuses when this replica stops fetching.
func (f *Fetcher) clear() {
	f.mu.Lock()
	clear(f.status)
	f.mu.Unlock()
	f.o.Metrics.sources(0, 0)
}

// untilNext is the wait until the earliest due source (an hour at most:
// the loop also wakes on a new model).
func (f *Fetcher) untilNext(sched map[string]*source) time.Duration {
	wait := time.Hour
	now := f.o.Now()
	for _, s := range sched {
		wait = min(wait, s.next.Sub(now))
	}
	return max(wait, 0)
}

// fetchDue fetches every source that is due, Concurrency at a time.
func (f *Fetcher) fetchDue(ctx context.Context, sched map[string]*source) {
	now := f.o.Now()
	var due []*source
	for _, s := range sched {
		if !s.next.After(now) {
			due = append(due, s)
		}
	}
	par.Do(len(due), f.o.Concurrency, func(i int) { f.fetch(ctx, due[i]) })
	failing := 0
	for _, s := range sched {
		if s.status.Failures > 0 {
			failing++
		}
	}
	f.o.Metrics.sources(len(sched), failing)
}

// errorKind sorts a failure for the status and the metrics.
func errorKind(err error) string {
	var ve *store.ValidationError
	switch {
	case errors.Is(err, store.ErrFailedPrecondition), errors.Is(err, errExpired):
		return ResultStale
	case errors.As(err, &ve), errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrLimit), errors.Is(err, store.ErrNotFound):
		return ResultInvalid
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrClosed):
		return ResultStoreError
	}
	return ResultFetchError
}
