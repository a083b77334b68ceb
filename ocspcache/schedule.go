package ocspcache

import (
	"cmp"
	"container/heap"
	"context"
	"slices"
	"sync"
	"time"
)

// schedule orders the refreshes due: a min-heap of entries by refresh
// time, each entry at most once (entry.hidx is its place).
type schedule struct {
	mu   sync.Mutex
	h    itemHeap
	wake chan struct{} // capacity 1: Run looks at the schedule again
}

type item struct {
	at time.Time
	e  *entry
}

type itemHeap []item

func (h itemHeap) Len() int           { return len(h) }
func (h itemHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h itemHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].e.hidx, h[j].e.hidx = i, j
}
func (h *itemHeap) Push(x any) {
	it := x.(item)
	it.e.hidx = len(*h)
	*h = append(*h, it)
}
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = item{}
	*h = old[:len(old)-1]
	it.e.hidx = -1
	return it
}

// add schedules e's refresh at at, replacing its schedule if it had one.
func (s *schedule) add(e *entry, at time.Time) {
	s.mu.Lock()
	if e.hidx >= 0 {
		s.h[e.hidx].at = at
		heap.Fix(&s.h, e.hidx)
	} else {
		heap.Push(&s.h, item{at: at, e: e})
	}
	first := s.h[0].e == e
	s.mu.Unlock()
	if first {
		s.poke()
	}
}

// drop unschedules e.
func (s *schedule) drop(e *entry) {
	s.mu.Lock()
	if e.hidx >= 0 {
		heap.Remove(&s.h, e.hidx)
	}
	s.mu.Unlock()
}

// poke wakes Run.
func (s *schedule) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// due pops at most n entries due at now.
func (s *schedule) due(now time.Time, n int) []*entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*entry
	for len(out) < n && len(s.h) > 0 && !s.h[0].at.After(now) {
		out = append(out, heap.Pop(&s.h).(item).e)
	}
	return out
}

// untilNext is the wait until the next entry is due, at most limit.
func (s *schedule) untilNext(now time.Time, limit time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.h) == 0 {
		return limit
	}
	return max(0, min(s.h[0].at.Sub(now), limit))
}

// Run refreshes the answers in use before they expire, at most
// Options.Concurrency at once, and drops expired and surplus entries,
// until ctx ends; then it closes the cache (Close) and returns once every
// request has ended.
func (c *Cache) Run(ctx context.Context) {
	defer c.Close()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	for {
		c.refreshDue(c.o.Now())
		wait := c.sched.untilNext(c.o.Now(), time.Minute)
		if c.refreshing.Load() >= int64(c.o.Concurrency) {
			wait = time.Minute // a refresh ending pokes
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-c.sched.wake:
		case <-sweep.C:
			c.sweep(c.o.Now())
		case <-c.trim:
			c.sweep(c.o.Now())
		}
	}
}

// refreshDue starts the refreshes due at now that the concurrency allows.
func (c *Cache) refreshDue(now time.Time) {
	free := c.o.Concurrency - int(c.refreshing.Load())
	if free <= 0 {
		return
	}
	for _, e := range c.sched.due(now, free) {
		c.refresh(e, now)
	}
}

// refresh asks again for e's answer, unless a request is in flight or e
// was not looked up for Idle (it is then dropped once expired).
func (c *Cache) refresh(e *entry, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone || e.call != nil || now.Unix()-e.used.Load() > int64(c.o.Idle/time.Second) {
		return
	}
	c.refreshing.Add(1)
	c.o.Metrics.refresh()
	if _, err := c.start(e, func() { c.refreshing.Add(-1); c.sched.poke() }); err != nil {
		c.refreshing.Add(-1)
	}
}

// sweep drops the entries that have nothing to offer (no valid answer,
// no request in flight, no backoff running, nor one ended less than
// RetryMax ago: a certificate whose responder keeps failing keeps its
// growing backoff), then, past MaxEntries, the least recently looked up
// down to nine tenths of it.
func (c *Cache) sweep(now time.Time) {
	var live []*entry
	c.entries.Range(func(_, v any) bool {
		e := v.(*entry)
		if !c.removeIf(e, func() bool { return c.expendable(e, now) }) {
			live = append(live, e)
		}
		return true
	})
	if len(live) <= c.o.MaxEntries {
		return
	}
	slices.SortFunc(live, func(a, b *entry) int { return cmp.Compare(a.used.Load(), b.used.Load()) })
	for _, e := range live[:len(live)-c.o.MaxEntries*9/10] {
		c.removeIf(e, func() bool { return true })
	}
}

// expendable: e.mu is held.
func (c *Cache) expendable(e *entry, now time.Time) bool {
	_, valid := e.valid(now)
	backoff := e.retryAt
	if e.failures > 0 {
		backoff = backoff.Add(c.o.RetryMax)
	}
	return !valid && e.call == nil && !now.Before(backoff)
}

// removeIf takes e out of the cache when cond, decided under e's lock, so
// that no lookup starts a request on it meanwhile (begin sees gone). A
// request already in flight still answers its waiters.
func (c *Cache) removeIf(e *entry, cond func() bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone || !cond() {
		return e.gone
	}
	e.gone = true
	if c.entries.CompareAndDelete(e.key, e) {
		c.count.Add(-1)
	}
	c.sched.drop(e)
	return true
}
