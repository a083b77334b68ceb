package store

import (
	"context"
	"time"
)

// Follow calls apply with the current State, then with each newer one until
// ctx ends. Bursts of changes are coalesced: after a change it waits for
// holdoff of quiet, but never longer than maxDelay after the first change,
// so a stream of writes cannot starve consumers. apply runs on Follow's
// goroutine, one call at a time.
func (s *Store) Follow(ctx context.Context, holdoff, maxDelay time.Duration, apply func(*State)) {
	st := s.Current()
	apply(st)
	for {
		next, err := s.Next(ctx, st)
		if err != nil {
			return
		}
		deadline := time.Now().Add(maxDelay)
		for {
			wait := min(holdoff, time.Until(deadline))
			if wait <= 0 {
				break
			}
			wctx, cancel := context.WithTimeout(ctx, wait)
			newer, err := s.Next(wctx, next)
			cancel()
			if err != nil {
				break // quiet for holdoff (or ctx ended: the outer Next sees it)
			}
			next = newer
		}
		if ctx.Err() != nil {
			return
		}
		st = next
		apply(st)
	}
}
