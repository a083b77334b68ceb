package ocspcache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// entry is one certificate's cache slot.
type entry struct {
	key  any
	ans  atomic.Pointer[answer] // the latest verified answer; nil before the first
	used atomic.Int64           // unix seconds of the last lookup

	mu       sync.Mutex // guards the fields below
	q        *Query     // the latest query (its URL and nonce setting are used)
	call     *call      // the request in flight
	failures int        // failed requests in a row
	retryAt  time.Time  // no new request before, after a failure
	lastErr  error
	sched    uint64 // generation of its pending refresh (schedule)
	gone     bool   // removed from the cache
}

// answer is a verified answer as cached.
type answer struct {
	res     Result
	fetched time.Time
	expires time.Time // nextUpdate bounded by MaxAge
}

// call is one request in flight; lookups of its certificate wait on done
// and then read res.
type call struct {
	done chan struct{}
	res  Result
}

// touch records a lookup at now, writing only when the second changed
// (many cores look up a hot certificate).
func (e *entry) touch(now time.Time) {
	if s := now.Unix(); e.used.Load() != s {
		e.used.Store(s)
	}
}

// valid returns e's answer when it is still in force at now.
func (e *entry) valid(now time.Time) (*answer, bool) {
	a := e.ans.Load()
	return a, a != nil && now.Before(a.expires)
}

// Cached returns q's answer when a valid one is cached, without waiting
// or sending anything: the hot path.
func (c *Cache) Cached(q *Query, now time.Time) (Result, bool) {
	v, ok := c.entries.Load(q.key)
	if !ok {
		return Result{}, false
	}
	e := v.(*entry)
	e.touch(now)
	if a, ok := e.valid(now); ok {
		c.o.Metrics.lookup(resultHit)
		return a.res, true
	}
	return Result{}, false
}

// Prefetch starts the request for q's answer when none is cached or in
// flight, without waiting: a caller with several certificates to look up
// prefetches them all, then waits for each with Lookup.
func (c *Cache) Prefetch(q *Query, now time.Time) {
	c.begin(c.slot(q, now), q, now)
}

// Lookup returns q's answer: the cached one while valid; else it waits
// for the request in flight for q's certificate, starting one if there is
// none, until ctx ends (ErrBudget). A certificate whose last request
// failed less than a backoff ago is Unavailable at once.
func (c *Cache) Lookup(ctx context.Context, q *Query, now time.Time) Result {
	if r, ok := c.Cached(q, now); ok {
		return r
	}
	cl, res, wait := c.begin(c.slot(q, now), q, now)
	if !wait {
		return res
	}
	select {
	case <-cl.done:
		c.o.Metrics.lookup(resultFetched)
		return cl.res
	default:
	}
	select {
	case <-cl.done:
		c.o.Metrics.lookup(resultFetched)
		return cl.res
	case <-ctx.Done():
		c.o.Metrics.lookup(resultTimeout)
		return Result{Status: Unavailable, Err: fmt.Errorf("%w (%v)", ErrBudget, context.Cause(ctx))}
	}
}

// slot returns q's entry, adding it when missing.
func (c *Cache) slot(q *Query, now time.Time) *entry {
	if v, ok := c.entries.Load(q.key); ok {
		e := v.(*entry)
		e.touch(now)
		return e
	}
	e := &entry{key: q.key, q: q}
	e.touch(now)
	v, loaded := c.entries.LoadOrStore(q.key, e)
	if !loaded {
		n := c.count.Add(1)
		c.o.Metrics.entries(n)
		if n > int64(c.o.MaxEntries) {
			select {
			case c.trim <- struct{}{}:
			default:
			}
		}
	}
	return v.(*entry)
}

// begin returns the call to wait for (wait set), or the result when there
// is nothing to wait for: a valid answer arrived meanwhile, the last
// request failed within its backoff, or no request may start.
func (c *Cache) begin(e *entry, q *Query, now time.Time) (cl *call, res Result, wait bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.valid(now); ok {
		return nil, a.res, false
	}
	if e.q.URL != q.URL || e.q.Nonce != q.Nonce {
		// The operator changed the responder or the nonce setting: the
		// backoff was the old responder's.
		e.q, e.failures, e.retryAt = q, 0, time.Time{}
	}
	if e.call != nil {
		return e.call, Result{}, true // coalesced
	}
	if now.Before(e.retryAt) {
		c.o.Metrics.lookup(resultBackoff)
		return nil, Result{Status: Unavailable, Err: e.lastErr}, false
	}
	if c.inflight.Add(1) > int64(c.o.MaxInflight) {
		c.inflight.Add(-1)
		c.o.Metrics.lookup(resultOverloaded)
		return nil, Result{Status: Unavailable, Err: ErrOverloaded}, false
	}
	cl, err := c.start(e, func() { c.inflight.Add(-1) })
	if err != nil {
		c.inflight.Add(-1)
		return nil, Result{Status: Unavailable, Err: err}, false
	}
	return cl, Result{}, true
}

// start sends a request for e in a new goroutine, which calls release
// when done. e.mu is held.
func (c *Cache) start(e *entry, release func()) (*call, error) {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	cl := &call{done: make(chan struct{})}
	e.call = cl
	q := e.q
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer release()
		c.complete(e, cl, c.ask(q))
	}()
	return cl, nil
}
