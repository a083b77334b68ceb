package par

import (
	"errors"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDoRunsEveryIndexOnce(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{0, 4}, {1, 4}, {7, 1}, {100, 3}, {5, 50}} {
		counts := make([]atomic.Int32, tc.n)
		Do(tc.n, tc.workers, func(i int) { counts[i].Add(1) })
		for i := range counts {
			if got := counts[i].Load(); got != 1 {
				t.Errorf("n=%d workers=%d: index %d ran %d times", tc.n, tc.workers, i, got)
			}
		}
	}
}

func TestDoOneWorkerKeepsOrder(t *testing.T) {
	var got []int
	Do(5, 1, func(i int) { got = append(got, i) })
	for i, v := range got {
		if v != i {
			t.Fatalf("order %v", got)
		}
	}
}

func TestMemoMakesEachKeyOnce(t *testing.T) {
	m := NewMemo[int]()
	var made atomic.Int32
	boom := errors.New("boom")
	Do(64, 8, func(i int) {
		key := []byte{byte(i % 2)}
		v, err := m.Get(key, func() (int, error) {
			made.Add(1)
			if key[0] == 1 {
				return 0, boom
			}
			return 42, nil
		})
		if key[0] == 0 && (v != 42 || err != nil) || key[0] == 1 && !errors.Is(err, boom) {
			t.Errorf("key %d: got %d, %v", key[0], v, err)
		}
	})
	if made.Load() != 2 {
		t.Fatalf("made %d values for 2 keys", made.Load())
	}
}
