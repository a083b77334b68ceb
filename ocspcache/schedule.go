package ocspcache

import (
	"cmp"
	"container/heap"
	"context"
	"slices"
	"sync"
	"time"
)

// schedule orders the refreshes due: a min-heap of (time, entry). An
// entry rescheduled leaves its older item in the heap; the generation
// tells it apart when it comes out.
type schedule struct {
	mu   sync.Mutex
	h    itemHeap
	wake chan struct{} // capacity 1: Run looks at the schedule again
}

type item struct {
	at  time.Time
	e   *entry
	gen uint64
}

type itemHeap []item

func (h itemHeap) Len() int           { return len(h) }
func (h itemHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h itemHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)        { *h = append(*h, x.(item)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = item{}
	*h = old[:len(old)-1]
	return it
}

// add schedules e's refresh at at, replacing any earlier schedule of it.
// e.mu is held.
func (s *schedule) add(e *entry, at time.Time) {
	e.sched++
	s.mu.Lock()
	heap.Push(&s.h, item{at: at, e: e, gen: e.sched})
	first := s.h[0].e == e && s.h[0].gen == e.sched
	s.mu.Unlock()
	if first {
		s.poke()
	}
}

// poke wakes Run.
func (s *schedule) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// due pops at most n items due at now.
func (s *schedule) due(now time.Time, n int) []item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []item
	for len(out) < n && len(s.h) > 0 && !s.h[0].at.After(now) {
		out = append(out, heap.Pop(&s.h).(item))
	}
	return out
}

// untilNext is the wait until the next item is due, at most limit.
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
	for _, it := range c.sched.due(now, free) {
		c.refresh(it, now)
	}
}

// refresh asks again for the answer of it's entry, unless the item is
// outdated, a request is in flight, or the entry was not looked up for
// Idle (it is then dropped once expired).
func (c *Cache) refresh(it item, now time.Time) {
	e := it.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone || it.gen != e.sched || e.call != nil || now.Unix()-e.used.Load() > int64(c.o.Idle/time.Second) {
		return
	}
	c.refreshing.Add(1)
	c.o.Metrics.refresh()
	if _, err := c.start(e, func() { c.refreshing.Add(-1); c.sched.poke() }); err != nil {
		c.refreshing.Add(-1)
	}
}

// sweep drops the entries that have nothing to offer (no valid answer, no
// request in flight, no backoff running), then, past MaxEntries, the
// least recently looked up down to nine tenths of it.
func (c *Cache) sweep(now time.Time) {
	var live []*entry
	c.entries.Range(func(_, v any) bool {
		e := v.(*entry)
		if c.expendable(e, now) {
			c.remove(e)
		} else {
			live = append(live, e)
		}
		return true
	})
	if len(live) <= c.o.MaxEntries {
		return
	}
	slices.SortFunc(live, func(a, b *entry) int { return cmp.Compare(a.used.Load(), b.used.Load()) })
	for _, e := range live[:len(live)-c.o.MaxEntries*9/10] {
		c.remove(e)
	}
}

func (c *Cache) expendable(e *entry, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, valid := e.valid(now)
	return !valid && e.call == nil && !now.Before(e.retryAt)
}

// remove takes e out of the cache. A request in flight for it still
// answers its waiters.
func (c *Cache) remove(e *entry) {
	e.mu.Lock()
	e.gone = true
	e.mu.Unlock()
	if c.entries.CompareAndDelete(e.key, e) {
		c.o.Metrics.entries(c.count.Add(-1))
	}
}
