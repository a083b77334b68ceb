package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/storetest"
)

// openTemp opens a backend in a new temporary directory, closed when the
// test ends.
func openTemp(t *testing.T, opts Options) (*Backend, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.db")
	b := mustOpen(t, path, opts)
	return b, path
}

func mustOpen(t *testing.T, path string, opts Options) *Backend {
	t.Helper()
	b, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestConformance(t *testing.T) {
	storetest.RunBackendTests(t, func(t *testing.T) store.Backend {
		b, _ := openTemp(t, Options{})
		return b
	})
}

func TestCompaction(t *testing.T) {
	const historyBytes = 4 << 10
	storetest.RunCompactionTests(t, func(t *testing.T) store.Backend {
		b, _ := openTemp(t, Options{WatchHistoryBytes: historyBytes})
		return b
	}, func(t *testing.T, b store.Backend, rev int64) {
		// One transaction as large as the history evicts all older ones.
		ops := []store.Op{{Key: "\x00compact/filler", Value: make([]byte, historyBytes)}}
		if _, err := b.Txn(t.Context(), nil, ops); err != nil {
			t.Fatalf("compact: %v", err)
		}
	})
}

func TestFileMode(t *testing.T) {
	_, path := openTemp(t, Options{})
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("data file mode = %o, want 600", perm)
	}
}

func TestDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.LockTimeout != time.Second || o.WatchHistoryBytes != 64<<20 {
		t.Fatalf("defaults = %+v, want 1s and 64 MiB", o)
	}
	o = Options{LockTimeout: time.Minute, WatchHistoryBytes: 5}.withDefaults()
	if o.LockTimeout != time.Minute || o.WatchHistoryBytes != 5 {
		t.Fatalf("withDefaults changed set options: %+v", o)
	}
}

// wantInUse checks the error of opening a file that is locked elsewhere.
func wantInUse(t *testing.T, msg, path string) {
	t.Helper()
	want := fmt.Sprintf("data file %s is in use by another process", path)
	if !strings.Contains(msg, want) {
		t.Fatalf("Open of a locked file: %q, want it to say %q", msg, want)
	}
}

func TestLockedFile(t *testing.T) {
	first, path := openTemp(t, Options{})
	start := time.Now()
	_, err := Open(path, Options{LockTimeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("second Open took %v, want about the 200ms lock timeout", elapsed)
	}
	wantInUse(t, err.Error(), path)
	if !errors.Is(err, bberrors.ErrTimeout) {
		t.Fatalf("error %v does not wrap bbolt's ErrTimeout", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path, Options{})
}

func TestCloseIdempotent(t *testing.T) {
	b, _ := openTemp(t, Options{})
	for range 3 {
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	b, path := openTemp(t, Options{})
	ctx := t.Context()
	r1 := mustTxn(t, b, store.Op{Key: "a", Value: []byte("1")}, store.Op{Key: "b", Value: []byte("2")})
	r2 := mustTxn(t, b, store.Op{Key: "b", Delete: true}, store.Op{Key: "c", Value: []byte("3")})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, path, Options{})
	kvs, rev, err := b.Range(ctx, store.Range{})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(kvs)
	want := fmt.Sprint([]store.KV{{Key: "a", Value: []byte("1"), ModRev: r1}, {Key: "c", Value: []byte("3"), ModRev: r2}})
	if rev != r2 || got != want {
		t.Fatalf("after reopen: rev %d %s, want rev %d %s", rev, got, r2, want)
	}
	if r3 := mustTxn(t, b, store.Op{Key: "d"}); r3 != r2+1 {
		t.Fatalf("first Txn after reopen: revision %d, want %d", r3, r2+1)
	}
}

func TestWatchOlderThanOpenIsCompacted(t *testing.T) {
	b, path := openTemp(t, Options{})
	r1 := mustTxn(t, b, store.Op{Key: "a"})
	mustTxn(t, b, store.Op{Key: "b"})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, path, Options{})
	for _, from := range []int64{0, r1} {
		resp, ok := recvTimeout(t, b.Watch(t.Context(), "", from))
		if !ok || !errors.Is(resp.Err, store.ErrCompacted) {
			t.Fatalf("Watch from %d after reopen: %+v (open %v), want ErrCompacted", from, resp, ok)
		}
	}
}

// TestSlowWatcher checks that a watch nobody reads does not block Txn, and
// ends with ErrCompacted once history has moved past it.
func TestSlowWatcher(t *testing.T) {
	b, _ := openTemp(t, Options{WatchHistoryBytes: 8 << 10})
	from := mustTxn(t, b, store.Op{Key: "start"})
	ch := b.Watch(t.Context(), "", from)
	const txns = 40
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range txns {
			if _, err := b.Txn(t.Context(), nil, []store.Op{{Key: fmt.Sprint(i), Value: make([]byte, 1<<10)}}); err != nil {
				t.Errorf("Txn: %v", err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Txn blocked on a watch nobody reads")
	}
	if got := readUntilCompacted(t, ch, from); got >= txns/2 {
		t.Fatalf("slow watch delivered %d revisions, more than the history can hold", got)
	}
}

// readUntilCompacted reads a watch that must deliver consecutive revisions
// after from, then ErrCompacted, then close. It returns how many revisions
// it delivered.
func readUntilCompacted(t *testing.T, ch <-chan store.WatchResponse, from int64) int {
	t.Helper()
	next := from + 1
	for {
		resp, ok := recvTimeout(t, ch)
		switch {
		case !ok:
			t.Fatal("watch closed without ErrCompacted")
		case errors.Is(resp.Err, store.ErrCompacted):
			if _, ok := recvTimeout(t, ch); ok {
				t.Fatal("watch not closed after ErrCompacted")
			}
			return int(next - from - 1)
		case resp.Err != nil:
			t.Fatalf("watch error %v, want ErrCompacted", resp.Err)
		case resp.Rev != next:
			t.Fatalf("watch got revision %d, want %d", resp.Rev, next)
		}
		next++
	}
}

func TestErrorsNameKeyAndPath(t *testing.T) {
	b, path := openTemp(t, Options{})
	_, err := b.Txn(t.Context(), nil, []store.Op{{Key: ""}})
	if !errors.Is(err, bberrors.ErrKeyRequired) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Txn with an empty key: %v, want ErrKeyRequired naming %s", err, path)
	}
	_, err = b.Txn(t.Context(), []store.Compare{{Key: "k/1", ModRev: 7}}, []store.Op{{Key: "k/1"}})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), `"k/1"`) {
		t.Fatalf("conflicting Txn: %v, want ErrConflict naming the key", err)
	}
	if _, err := Open(filepath.Dir(path), Options{}); err == nil || !strings.Contains(err.Error(), filepath.Dir(path)) {
		t.Fatalf("Open of a directory: %v, want an error naming it", err)
	}
}

func TestUnsupportedFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.db")
	b := mustOpen(t, path, Options{})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(metaBucket).Put(formatKey, []byte("99"))
	})
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "layout version") {
		t.Fatalf("Open of a newer layout: %v, want a layout version error", err)
	}
}

func TestHistory(t *testing.T) {
	h := history{limit: 1000, last: 10}
	if h.oldest() != 11 {
		t.Fatalf("empty history oldest = %d, want 11", h.oldest())
	}
	ev := func(n int) []store.Event { return []store.Event{{KV: store.KV{Key: "k", Value: make([]byte, n)}}} }
	h.add(newEntry(11, ev(300)))
	h.add(newEntry(12, ev(300)))
	if h.oldest() != 11 || h.last != 12 {
		t.Fatalf("history [%d, %d], want [11, 12]", h.oldest(), h.last)
	}
	h.add(newEntry(13, ev(300)))
	if h.oldest() != 12 || h.size > h.limit {
		t.Fatalf("history from %d with %d bytes, want from 12 within %d", h.oldest(), h.size, h.limit)
	}
	h.add(newEntry(14, ev(5000)))
	if h.oldest() != 14 || h.last != 14 || h.size != newEntry(14, ev(5000)).size {
		t.Fatalf("history [%d, %d] %d bytes, want only the oversized newest entry", h.oldest(), h.last, h.size)
	}
}

// recvTimeout receives from a watch; ok is false when it is closed.
func recvTimeout(t *testing.T, ch <-chan store.WatchResponse) (resp store.WatchResponse, ok bool) {
	t.Helper()
	select {
	case resp, ok = <-ch:
		return resp, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no watch response or close within 10s")
	}
	return resp, false
}

func mustTxn(t *testing.T, b *Backend, ops ...store.Op) int64 {
	t.Helper()
	rev, err := b.Txn(t.Context(), nil, ops)
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	return rev
}
