package model

import (
	"context"
	"time"

	"github.com/mtlsgate/mtlsgate/store"
)

// How long Follow lets changes settle: a burst of writes is compiled once,
// after Holdoff of quiet, never later than MaxDelay after its first write.
// Both are well inside the second a change may take to reach Check and
// Envoy.
const (
	Holdoff  = 50 * time.Millisecond
	MaxDelay = 250 * time.Millisecond
)

// Follow compiles st's current State, then each newer one (debounced, see
// Holdoff), each incrementally from the one before, the first from prev
// (nil: none), and hands every Model to the consumers in order, on
// Follow's goroutine, until ctx ends.
func Follow(ctx context.Context, st *store.Store, prev *Model, consumers ...func(*Model)) {
	st.Follow(ctx, Holdoff, MaxDelay, func(s *store.State) {
		prev = Compile(s, prev)
		for _, apply := range consumers {
			apply(prev)
		}
	})
}
