// Package par runs independent pieces of one computation on several
// goroutines: the compilation of the model and the translation of sites.
// Every goroutine it starts has ended when its function returns.
package par

import (
	"sync"
	"sync/atomic"
)

// Do runs fn(0), …, fn(n-1) on up to workers goroutines and returns when
// every call has returned. With one worker, or one call, it runs them in
// order on the caller's goroutine.
func Do(n, workers int, fn func(i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// Memo makes a value once per key for concurrent callers: what the items
// of one computation share (most sites have the same header names, many
// the same CAs). The zero Memo is not usable; make one with NewMemo.
type Memo[V any] struct {
	mu sync.Mutex
	m  map[string]*memoEntry[V]
}

type memoEntry[V any] struct {
	once sync.Once
	v    V
	err  error
}

// NewMemo returns an empty Memo.
func NewMemo[V any]() *Memo[V] { return &Memo[V]{m: map[string]*memoEntry[V]{}} }

// Get returns the value for key, made by mk on the first call for that
// key; later and concurrent callers wait for it and get the same value and
// error.
func (c *Memo[V]) Get(key []byte, mk func() (V, error)) (V, error) {
	c.mu.Lock()
	e := c.m[string(key)]
	if e == nil {
		e = &memoEntry[V]{}
		c.m[string(key)] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.v, e.err = mk() })
	return e.v, e.err
}
