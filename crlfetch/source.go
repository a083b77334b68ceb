package crlfetch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/outbound"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Results of an attempt, in Status.Result and the metrics' result label.
const (
	// ResultStored: a newer CRL was fetched and stored.
	ResultStored = "stored"
	// ResultUnchanged: the CRL fetched is the one already held.
	ResultUnchanged = "unchanged"
	// ResultNotModified: the server answered 304 to a conditional GET.
	ResultNotModified = "not_modified"
	// ResultFetchError: no CRL came back (network, policy, status, size).
	ResultFetchError = "fetch_error"
	// ResultInvalid: the body is not a CRL of an uploaded CA, or breaks a
	// limit (the store refused it as it refuses such an upload).
	ResultInvalid = "invalid"
	// ResultStale: the CRL served is older than the one held, or past its
	// nextUpdate.
	ResultStale = "stale"
	// ResultStoreError: the store could not take the write (etcd down).
	ResultStoreError = "store_error"
)

// errExpired: the CRL fetched is already past its nextUpdate.
var errExpired = errors.New("the CRL served is past its nextUpdate: the publisher has not published a newer one")

// Status is what the last attempt on a source did.
type Status struct {
	Source
	LastAttempt, LastSuccess, NextAttempt time.Time
	// Result is one of the Result constants; Error explains a failure.
	Result, Error string
	// Failures counts the failed attempts since the last success.
	Failures int
	// CRL is the CRL the source last gave (stored or held), with its
	// thisUpdate and nextUpdate.
	CRLID                  string
	ThisUpdate, NextUpdate time.Time
}

// source is one URL in the schedule.
type source struct {
	status Status
	next   time.Time
	cond   outbound.Validators // of the last body received
	// written is what the stored status last said (persist).
	written written
}

// sync brings the schedule to m's sources: new ones are due at once,
// unless m holds a CRL fetched from them (then they are due when it needs
// refreshing: a replica taking over does not fetch everything again);
// sources no longer listed go. A new source takes over its stored status
// (stored, from a previous fetcher).
func (f *Fetcher) sync(ctx context.Context, sched map[string]*source, m *model.Model, stored map[string]*pb.CRLFetchStatus) {
	now := f.o.Now()
	want := map[string]Source{}
	for _, s := range Sources(m) {
		want[s.URL] = s
	}
	for u := range sched {
		if _, ok := want[u]; !ok {
			delete(sched, u)
			f.o.Metrics.forget(u)
			f.forget(ctx, u)
			f.mu.Lock()
			delete(f.status, u)
			f.mu.Unlock()
		}
	}
	held := map[string]*pb.CRL{}
	for _, c := range m.CRLs {
		if u := c.Msg.GetFetchedFrom(); u != "" {
			held[u] = c.Msg
		}
	}
	for u, src := range want {
		if s, ok := sched[u]; ok {
			s.status.Source = src
			continue
		}
		s := &source{status: Status{Source: src}, next: now}
		s.restore(stored[u])
		if c := held[u]; c != nil {
			s.setCRL(c)
			s.next = f.refreshTime(now, s.status.ThisUpdate, s.status.NextUpdate)
		}
		s.status.NextAttempt = s.next
		sched[u] = s
		f.publish(s)
		f.persist(ctx, s)
	}
}

func (s *source) setCRL(c *pb.CRL) {
	s.status.CRLID = c.GetId()
	s.status.ThisUpdate = c.GetThisUpdate().AsTime()
	s.status.NextUpdate = time.Time{}
	if c.GetNextUpdate() != nil {
		s.status.NextUpdate = c.GetNextUpdate().AsTime()
	}
}

// fetch makes one attempt on s and schedules the next.
func (f *Fetcher) fetch(ctx context.Context, s *source) {
	start := f.o.Now()
	s.status.LastAttempt = start
	result, err := f.attempt(ctx, s)
	if ctx.Err() != nil {
		return // the lease is lost or the server stops: not the source's failure
	}
	now := f.o.Now()
	f.o.Metrics.attempt(result, now.Sub(start))
	s.status.Result = result
	if err != nil {
		s.status.Failures++
		s.status.Error = err.Error()
		s.next = now.Add(f.retryAfter(s.status.Failures))
		f.o.Log.Warn("CRL fetch failed", "url", s.status.URL, "result", result, "err", err,
			"failures", s.status.Failures, "retry_in", s.next.Sub(now).Round(time.Second))
	} else {
		s.status.Failures, s.status.Error, s.status.LastSuccess = 0, "", now
		s.next = f.refreshTime(now, s.status.ThisUpdate, s.status.NextUpdate)
		f.o.Metrics.success(s.status.URL, now)
		if result == ResultStored {
			f.o.Log.Info("CRL fetched and stored", "url", s.status.URL, "crl", s.status.CRLID,
				"next_update", s.status.NextUpdate, "refresh_at", s.next)
		}
	}
	s.status.NextAttempt = s.next
	f.publish(s)
	f.persist(ctx, s)
}

// attempt fetches s and stores what came back.
func (f *Fetcher) attempt(ctx context.Context, s *source) (string, error) {
	resp, err := f.o.Client.Get(ctx, s.status.URL, s.cond, f.o.MaxBytes)
	if err != nil {
		return ResultFetchError, err
	}
	if resp.NotModified {
		if !f.stillHeld(s.status.CRLID) {
			// The CRL this source gave is gone (deleted, or its CA
			// re-created): ask again without validators, or a 304 would
			// leave the issuer without a CRL until the next publication.
			s.cond, s.status.CRLID = outbound.Validators{}, ""
			if resp, err = f.o.Client.Get(ctx, s.status.URL, s.cond, f.o.MaxBytes); err != nil {
				return ResultFetchError, err
			}
			if resp.NotModified {
				return ResultFetchError, errors.New("the server answered 304 Not Modified to an unconditional request")
			}
			return f.put(ctx, s, resp)
		}
		s.cond = resp.Validators
		if err := f.expired(s); err != nil {
			return ResultStale, err
		}
		return ResultNotModified, nil
	}
	return f.put(ctx, s, resp)
}

// stillHeld tells whether the latest model still holds the CRL id.
func (f *Fetcher) stillHeld(id string) bool {
	m := f.latest.Load()
	return id != "" && m != nil && m.CRLs[id] != nil
}

// put writes a fetched body and records the CRL it is (or the one held).
func (f *Fetcher) put(ctx context.Context, s *source, resp *outbound.Response) (string, error) {
	crl, stored, err := f.o.Store.PutFetchedCRL(ctx, Actor, resp.Body, s.status.URL)
	if err != nil {
		return errorKind(err), err
	}
	s.cond = resp.Validators
	s.setCRL(crl)
	result := ResultUnchanged
	if stored {
		result = ResultStored
	}
	if err := f.expired(s); err != nil {
		return ResultStale, err
	}
	return result, nil
}

// expired reports a CRL held from s that is past its nextUpdate.
func (f *Fetcher) expired(s *source) error {
	if n := s.status.NextUpdate; !n.IsZero() && !n.After(f.o.Now()) {
		return fmt.Errorf("%w (nextUpdate %s)", errExpired, n.UTC().Format(time.RFC3339))
	}
	return nil
}

// refreshTime is when the source of a CRL of this lifetime is fetched
// again: at RefreshAt of its life; once past that point (the publisher
// has not replaced it yet), after a quarter of the time it has left, so
// that checks grow more frequent as it nears its nextUpdate without
// polling a publisher every MinInterval for days.
func (f *Fetcher) refreshTime(now, this, next time.Time) time.Time {
	if next.IsZero() || !next.After(this) {
		return now.Add(f.o.MaxInterval)
	}
	life := next.Sub(this)
	at := this.Add(time.Duration(f.o.RefreshAt * float64(life)))
	at = at.Add(time.Duration((f.o.Rand() - 0.5) * 0.1 * float64(life)))
	if at.Before(now.Add(f.o.MinInterval)) {
		at = now.Add(max(f.o.MinInterval, next.Sub(now)/4))
	}
	return clampTime(at, now.Add(f.o.MinInterval), now.Add(f.o.MaxInterval))
}

func clampTime(t, lo, hi time.Time) time.Time {
	if t.Before(lo) {
		return lo
	}
	if t.After(hi) {
		return hi
	}
	return t
}

// retryAfter is the wait after the n-th failure in a row: RetryMin
// doubling up to RetryMax, drawn from the upper half.
func (f *Fetcher) retryAfter(n int) time.Duration {
	d := f.o.RetryMin
	for i := 1; i < n && d < f.o.RetryMax; i++ {
		d *= 2
	}
	d = min(d, f.o.RetryMax)
	return d/2 + time.Duration(f.o.Rand()*float64(d/2))
}

// publish copies s's status for Statuses.
func (f *Fetcher) publish(s *source) {
	f.mu.Lock()
	f.status[s.status.URL] = s.status
	f.mu.Unlock()
}
