package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/store"
)

const (
	casWorkers    = 8
	casIncrements = 25
)

func testConcurrentCAS(t *testing.T, b store.Backend) {
	r0 := currentRev(t, b)
	var wg sync.WaitGroup
	errs := make(chan error, casWorkers)
	for range casWorkers {
		wg.Go(func() {
			for range casIncrements {
				if err := increment(t.Context(), b, "counter"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := casWorkers * casIncrements
	wantValue(t, b, "counter", strconv.Itoa(total), r0+int64(total))
	wantRev(t, b, r0+int64(total))
}

// increment adds one to the decimal counter at key with compare-and-swap,
// retrying on conflict.
func increment(ctx context.Context, b store.Backend, key string) error {
	for {
		kv, ok, err := b.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("get %q: %w", key, err)
		}
		n := 0
		if ok {
			if n, err = strconv.Atoi(string(kv.Value)); err != nil {
				return fmt.Errorf("counter %q: %w", kv.Value, err)
			}
		}
		cmp := []store.Compare{{Key: key, ModRev: kv.ModRev}}
		op := []store.Op{{Key: key, Value: []byte(strconv.Itoa(n + 1))}}
		_, err = b.Txn(ctx, cmp, op)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
}

// testWatchConcurrentWithTxn starts watches from the current revision while
// other goroutines commit transactions: each watch must then see every later
// transaction exactly once, in order.
func testWatchConcurrentWithTxn(t *testing.T, b store.Backend) {
	const writers, perWriter, watchers = 4, 25, 16
	r0 := currentRev(t, b)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { writeKeys(t, b, fmt.Sprintf("w/%d/", w), perWriter) })
	}
	started := make(chan watchFrom, watchers)
	for i := range watchers {
		// Spread the watches over the stream of transactions.
		after := r0 + int64(i*writers*perWriter/watchers)
		wg.Go(func() {
			if w, err := watchAfter(t.Context(), b, after); err != nil {
				t.Error(err)
			} else {
				started <- w
			}
		})
	}
	wg.Wait()
	close(started)
	end := putAll(t, b, "w/end", "v")
	for w := range started {
		checkContiguous(t, w.ch, w.from, end)
	}
}

// writeKeys writes n keys under prefix, one transaction each. It may run
// outside the test goroutine.
func writeKeys(t *testing.T, b store.Backend, prefix string, n int) {
	for i := range n {
		if _, err := b.Txn(t.Context(), nil, []store.Op{put(prefix+strconv.Itoa(i), "v")}); err != nil {
			t.Errorf("Txn: %v", err)
			return
		}
	}
}

type watchFrom struct {
	from int64
	ch   <-chan store.WatchResponse
}

// watchAfter waits until the revision reaches after, then watches "w/" from
// the revision it reads.
func watchAfter(ctx context.Context, b store.Backend, after int64) (watchFrom, error) {
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		_, rev, err := b.Range(ctx, store.Range{Limit: 1})
		if err != nil {
			return watchFrom{}, err
		}
		if rev >= after {
			return watchFrom{rev, b.Watch(ctx, "w/", rev)}, nil
		}
		time.Sleep(50 * time.Microsecond)
	}
	return watchFrom{}, fmt.Errorf("revision did not reach %d within %v", after, waitTimeout)
}

// checkContiguous reads a watch that must deliver revisions from+1 to last,
// each once and in order.
func checkContiguous(t *testing.T, ch <-chan store.WatchResponse, from, last int64) {
	t.Helper()
	for want := from + 1; want <= last; want++ {
		resp := recv(t, ch)
		if resp.Err != nil || resp.Rev != want || len(resp.Events) != 1 {
			t.Fatalf("watch from %d: got rev %d (%d events, err %v), want rev %d with 1 event",
				from, resp.Rev, len(resp.Events), resp.Err, want)
		}
	}
}
