package store

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable means the backend did not confirm a write (etcd out of
// reach, a disk error). The write most likely did not happen, but a
// transaction that timed out after the cluster received it may still
// commit: callers check before they retry. The State in force stays.
var ErrUnavailable = errors.New("store unavailable")

// DefaultProbeInterval is how often a Store checks that its backend
// answers, when Options.ProbeInterval is zero.
const DefaultProbeInterval = 5 * time.Second

// Health is what a Store knows of its backend: whether it answered the
// last probe and the last reload.
type Health struct {
	// OK is true while the backend answers.
	OK bool
	// Since is when OK last changed (when the Store opened, at first).
	Since time.Time
	// Err is why the backend is not OK.
	Err error
}

// Health returns the backend's health. A Store whose backend is down keeps
// its last State: readers see no change, writers get ErrUnavailable.
func (s *Store) Health() Health { return *s.health.Load() }

// setHealth records the outcome of a probe or a reload, and logs a change.
// The probe and the watch follower both call it.
func (s *Store) setHealth(err error) {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	old := s.health.Load()
	if (err == nil) == old.OK {
		if err != nil {
			s.health.Store(&Health{Since: old.Since, Err: err}) // the latest reason
		}
		return
	}
	h := &Health{OK: err == nil, Since: s.now(), Err: err}
	s.health.Store(h)
	if h.OK {
		s.log.Info("store backend answers again; following it", "unavailable_for", h.Since.Sub(old.Since).Round(time.Millisecond))
		return
	}
	s.log.Error("store backend unavailable: serving the last configuration, refusing writes", "rev", s.Current().Rev, "err", err)
}

// probe checks the backend every interval until ctx ends: one read of a
// single key, with the interval as its timeout. For etcd that read is
// linearizable, so it needs a quorum.
func (s *Store) probe(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, interval)
		_, _, err := s.b.Range(pctx, Range{Start: serialKey, End: serialKey + "\x00", Limit: 1})
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.setHealth(err)
	}
}
