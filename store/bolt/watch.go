package bolt

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/mtlsgate/mtlsgate/store"
)

// Memory accounted for each history entry and event besides keys and values.
const (
	entryOverhead = 64
	eventOverhead = 64
)

// entry is one committed transaction. It is never modified once published.
type entry struct {
	rev    int64
	events []store.Event
	size   int64
}

func newEntry(rev int64, events []store.Event) entry {
	size := int64(entryOverhead)
	for _, e := range events {
		size += int64(eventOverhead + len(e.Key) + len(e.Value))
	}
	return entry{rev: rev, events: events, size: size}
}

// history holds the most recent transactions, of consecutive revisions
// ending at last, within limit bytes (the newest is always kept).
type history struct {
	limit   int64
	size    int64
	last    int64
	entries []entry
}

// oldest returns the oldest revision history can replay; last+1 when empty.
func (h *history) oldest() int64 {
	return h.last - int64(len(h.entries)) + 1
}

func (h *history) add(e entry) {
	h.entries = append(h.entries, e)
	h.last = e.rev
	h.size += e.size
	for len(h.entries) > 1 && h.size > h.limit {
		h.size -= h.entries[0].size
		h.entries[0] = entry{}
		h.entries = h.entries[1:]
	}
}

// publish makes a committed transaction visible to watches. Callers hold
// txnMu, so revisions arrive in order.
func (b *Backend) publish(rev int64, events []store.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hist.add(newEntry(rev, events))
	close(b.changed)
	b.changed = make(chan struct{})
}

// next returns the entry of revision rev if history has it. Otherwise it
// returns a channel closed when history grows if rev is still to come, or
// an error when rev has left history or the backend is closed.
func (b *Backend) next(rev int64) (entry, <-chan struct{}, error) {
	select {
	case <-b.done:
		return entry{}, nil, fmt.Errorf("bolt: %s: %w", b.path, store.ErrClosed)
	default:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	h := &b.hist
	switch oldest := h.oldest(); {
	case rev > h.last:
		return entry{}, b.changed, nil
	case rev < oldest:
		return entry{}, nil, fmt.Errorf("bolt: %s: watch needs revision %d, oldest kept is %d: %w", b.path, rev, oldest, store.ErrCompacted)
	default:
		return h.entries[rev-oldest], nil, nil
	}
}

// Watch sends, in revision order, one response per transaction after rev
// that changed a key under prefix. When rev is older than the history kept
// in memory, or the consumer falls behind it, the watch sends a response
// with store.ErrCompacted and ends. The channel is closed when ctx ends, the
// watch fails or the backend is closed (after a response with
// store.ErrClosed). The watch's goroutine lives until then, so consumers
// must read the channel or cancel ctx.
func (b *Backend) Watch(ctx context.Context, prefix string, rev int64) <-chan store.WatchResponse {
	w := &watcher{
		b:      b,
		ctx:    ctx,
		prefix: prefix,
		next:   max(rev, 0) + 1,
		ch:     make(chan store.WatchResponse),
	}
	go w.run()
	return w.ch
}

// watcher delivers history to one watch channel.
type watcher struct {
	b      *Backend
	ctx    context.Context
	prefix string
	next   int64 // revision to deliver next
	ch     chan store.WatchResponse
}

func (w *watcher) run() {
	defer close(w.ch)
	for {
		e, wait, err := w.b.next(w.next)
		switch {
		case err != nil:
			w.fail(err)
			return
		case wait != nil:
			if !w.wait(wait) {
				return
			}
		default:
			w.next = e.rev + 1
			if !w.deliver(e) {
				return
			}
		}
	}
}

// wait blocks until history grows or the backend closes; it returns false
// when ctx ends.
func (w *watcher) wait(changed <-chan struct{}) bool {
	select {
	case <-changed:
		return true
	case <-w.b.done:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// deliver sends the events of e under the prefix, if any. It returns false
// when ctx ends. When the backend closes meanwhile the events are dropped
// and the next lookup reports it.
func (w *watcher) deliver(e entry) bool {
	resp, ok := w.filter(e)
	if !ok {
		return true
	}
	select {
	case w.ch <- resp:
		return true
	case <-w.b.done:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// filter returns the response for the events of e under the prefix, with
// values copied so that consumers cannot alter history.
func (w *watcher) filter(e entry) (store.WatchResponse, bool) {
	var events []store.Event
	for _, ev := range e.events {
		if !strings.HasPrefix(ev.Key, w.prefix) {
			continue
		}
		if !ev.Delete {
			ev.Value = bytes.Clone(ev.Value)
			if ev.Value == nil {
				ev.Value = []byte{}
			}
		}
		events = append(events, ev)
	}
	return store.WatchResponse{Rev: e.rev, Events: events}, len(events) > 0
}

// fail sends the error that ends the watch unless ctx has ended.
func (w *watcher) fail(err error) {
	select {
	case w.ch <- store.WatchResponse{Err: err}:
	case <-w.ctx.Done():
	}
}
