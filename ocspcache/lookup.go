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
	q    atomic.Pointer[Query]  // the latest query: its URL and nonce setting are used

	mu       sync.Mutex // guards the fields below
	call     *call      // the request in flight
	failures int        // failed requests in a row
	retryAt  time.Time  // no new request before, after a failure
	lastErr  error
	gone     bool // removed from the cache

	hidx int // index in the refresh schedule's heap, -1 when not in it (guarded by schedule.mu)
}

// answer is a verified answer as cached.
type answer struct {
	res     Result
	fetched time.Time
	expires time.Time // nextUpdate (with the clock skew allowed) bounded by MaxAge
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

// follow makes q e's query when the operator changed the responder or
// the nonce setting since e's was made: the next request goes there, and
// the backoff, which was the old responder's, ends.
func (e *entry) follow(q *Query) {
	if cur := e.q.Load(); cur == q || (cur.URL == q.URL && cur.Nonce == q.Nonce) {
		return
	}
	e.mu.Lock()
	e.q.Store(q)
	e.failures, e.retryAt = 0, time.Time{}
	e.mu.Unlock()
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
	e.follow(q)
	if a, ok := e.valid(now); ok {
		c.o.Metrics.lookup(resultHit)
		return a.res, true
	}
	return Result{}, false
}

// Pending is a lookup started by Start: its result is known at once, or
// when the request it waits for ends.
type Pending struct {
	c    *Cache
	call *call  // nil when res is known
	res  Result // when call is nil
}

// Ready reports whether Wait will return at once.
func (p *Pending) Ready() bool {
	if p.call == nil {
		return true
	}
	select {
	case <-p.call.done:
		return true
	default:
		return false
	}
}

// Wait returns the lookup's result, waiting for its request until ctx
// ends (then Unavailable with ErrBudget: the request goes on, and its
// answer is cached for the next lookup).
func (p *Pending) Wait(ctx context.Context) Result {
	if p.call == nil {
		return p.res
	}
	select {
	case <-p.call.done:
	default:
		select {
		case <-p.call.done:
		case <-ctx.Done():
			p.c.o.Metrics.lookup(resultTimeout)
			return Result{Status: Unavailable, Err: fmt.Errorf("%w (%v)", ErrBudget, context.Cause(ctx))}
		}
	}
	if p.call.res.Status == Unavailable {
		p.c.o.Metrics.lookup(resultFailed)
	} else {
		p.c.o.Metrics.lookup(resultFetched)
	}
	return p.call.res
}

// Start looks q up without waiting: the cached answer when valid, else
// the request in flight for q's certificate, starting one if there is
// none. A certificate whose last request failed less than a backoff ago
// is Unavailable at once. A caller with several certificates starts them
// all, then waits for each.
func (c *Cache) Start(q *Query, now time.Time) *Pending {
	for {
		e := c.slot(q, now)
		cl, res, gone := c.begin(e, q, now)
		if !gone {
			return &Pending{c: c, call: cl, res: res}
		}
		// Swept between slot and begin: a fresh slot is made.
	}
}

// Lookup is Cached, else Start and Wait.
func (c *Cache) Lookup(ctx context.Context, q *Query, now time.Time) Result {
	if r, ok := c.Cached(q, now); ok {
		return r
	}
	return c.Start(q, now).Wait(ctx)
}

// slot returns q's entry, adding it when missing.
func (c *Cache) slot(q *Query, now time.Time) *entry {
	if v, ok := c.entries.Load(q.key); ok {
		e := v.(*entry)
		e.touch(now)
		e.follow(q)
		return e
	}
	e := &entry{key: q.key, hidx: -1}
	e.q.Store(q)
	e.touch(now)
	v, loaded := c.entries.LoadOrStore(q.key, e)
	if !loaded && c.count.Add(1) > int64(c.o.MaxEntries) {
		select {
		case c.trim <- struct{}{}:
		default:
		}
	}
	return v.(*entry)
}

// begin returns the call to wait for, or (call nil) the result when there
// is nothing to wait for: a valid answer arrived meanwhile, the last
// request failed within its backoff, or no request may start. gone: e
// was removed from the cache; nothing was done.
func (c *Cache) begin(e *entry, q *Query, now time.Time) (cl *call, res Result, gone bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch a, ok := e.valid(now); {
	case e.gone:
		return nil, Result{}, true
	case ok:
		c.o.Metrics.lookup(resultHit)
		return nil, a.res, false
	case e.call != nil:
		return e.call, Result{}, false // coalesced
	case now.Before(e.retryAt):
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
	return cl, Result{}, false
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
	q := e.q.Load()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer release()
		c.complete(e, cl, c.ask(q))
	}()
	return cl, nil
}
