package xds

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestJoinNeverUndoesANewerUpdate: fleets joining while States are
// published end up with the latest snapshot. Before, a join read the
// current snapshot under the lock and set it after unlocking, so an
// Update in between was overwritten and that fleet stayed stale until the
// next store change.
func TestJoinNeverUndoesANewerUpdate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewServer(ctx, DefaultOptions(), nil, nil)
	states := make([]*model.Model, 20)
	for i := range states {
		states[i] = model.Compile(store.NewState(int64(i+2), nil, nil, nil), nil)
	}
	for round := range 20 {
		var wg sync.WaitGroup
		wg.Go(func() {
			for _, st := range states {
				s.Update(st)
			}
		})
		wg.Go(func() {
			for j := range 50 {
				s.ensureFleet(fmt.Sprintf("r%d-f%d", round, j))
			}
		})
		wg.Wait()
		for f := range s.fleets {
			got, err := s.cache.GetSnapshot(f)
			if err != nil || got != s.current.For(f) {
				t.Fatalf("round %d: fleet %s holds a snapshot other than the latest (%v)", round, f, err)
			}
		}
	}
}
