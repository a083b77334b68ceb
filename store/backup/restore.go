package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mtlsgate/mtlsgate/store"
)

// Export writes a backup of what snapshot returns (store.Store.Snapshot:
// every key at one revision) to w. source names the backend.
func Export(ctx context.Context, snapshot func(context.Context) ([]store.KV, int64, error), source string, w io.Writer, now time.Time) (Info, error) {
	kvs, rev, err := snapshot(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("backup: read the store: %w", err)
	}
	records := make([]Record, 0, len(kvs))
	for _, kv := range kvs {
		records = append(records, Record{Key: kv.Key, Value: kv.Value})
	}
	info := Info{Created: now.UTC(), Revision: rev, Source: source, Keys: len(records)}
	return info, Write(w, info, records)
}

// Batch bounds of a restore transaction: well inside etcd's default
// --max-txn-ops (128) and --max-request-bytes (1.5 MiB). A larger value
// goes alone.
const (
	batchOps   = 64
	batchBytes = 1 << 20
)

// ErrNotEmpty is Restore's refusal of a target that holds data.
var ErrNotEmpty = errors.New("backup: the target store is not empty")

// Restore writes the backup in f into b, which must be empty or hold an
// unfinished restore (store.RestoreMarkerKey), which it clears first. The
// whole file is verified before anything is written. Writing is not one
// transaction (a store may exceed what one takes): the marker, written
// first and deleted last, makes store.Open refuse a store a restore did not
// finish.
func Restore(ctx context.Context, b store.Backend, f io.ReadSeeker, l Limits) (Info, error) {
	info, err := Verify(f, l)
	if err != nil {
		return Info{}, err
	}
	if err := fitsTarget(f, l); err != nil {
		return Info{}, err
	}
	if err := prepare(ctx, b); err != nil {
		return Info{}, err
	}
	w := &batcher{ctx: ctx, b: b, maxBytes: batchBytes}
	if l.TargetRequestBytes > 0 {
		w.maxBytes = min(batchBytes, l.TargetRequestBytes/2)
	}
	if _, err := Read(f, l, func(r Record) error {
		if r.Key == store.RestoreMarkerKey {
			return fmt.Errorf("%w: it holds the restore marker %q", ErrCorrupt, r.Key)
		}
		return w.add(store.Op{Key: r.Key, Value: r.Value})
	}); err != nil {
		return Info{}, err
	}
	if err := w.flush(); err != nil {
		return Info{}, err
	}
	if _, err := b.Txn(ctx, nil, []store.Op{{Key: store.RestoreMarkerKey, Delete: true}}); err != nil {
		return Info{}, fmt.Errorf("backup: finish the restore: %w", err)
	}
	return info, nil
}

// ErrTooLargeForTarget is Restore's refusal of a backup with a record the
// target cannot take in one transaction (Limits.TargetRequestBytes).
var ErrTooLargeForTarget = errors.New("backup: a record is larger than the target takes in one transaction")

// recordOverhead is what a transaction holds beside a record's key and
// value.
const recordOverhead = 4 << 10

// fitsTarget reads f again, from the start, checking every record against
// l.TargetRequestBytes, and leaves f at the start.
func fitsTarget(f io.ReadSeeker, l Limits) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if l.TargetRequestBytes > 0 {
		if _, err := Read(f, l, func(r Record) error {
			if n := len(r.Key) + len(r.Value) + recordOverhead; n > l.TargetRequestBytes {
				return fmt.Errorf("%w: %s is %d bytes with its overhead, the target takes %d (raise etcd's --max-request-bytes and etcd.max_request_bytes)",
					ErrTooLargeForTarget, r.Key, n, l.TargetRequestBytes)
			}
			return nil
		}); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	return nil
}

// prepare checks that b is empty, or clears an unfinished restore, and
// writes the marker.
func prepare(ctx context.Context, b store.Backend) error {
	kvs, _, err := b.Range(ctx, store.Range{})
	if err != nil {
		return fmt.Errorf("backup: read the target: %w", err)
	}
	unfinished := false
	for _, kv := range kvs {
		if kv.Key == store.RestoreMarkerKey {
			unfinished = true
		}
	}
	if len(kvs) > 0 && !unfinished {
		return fmt.Errorf("%w: it holds %d keys (a restore goes into a new data directory, or an unused etcd prefix)", ErrNotEmpty, len(kvs))
	}
	w := &batcher{ctx: ctx, b: b, maxBytes: batchBytes}
	for _, kv := range kvs {
		if kv.Key != store.RestoreMarkerKey {
			if err := w.add(store.Op{Key: kv.Key, Delete: true}); err != nil {
				return err
			}
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	_, err = b.Txn(ctx, nil, []store.Op{{Key: store.RestoreMarkerKey, Value: []byte(time.Now().UTC().Format(time.RFC3339))}})
	return err
}

// batcher groups ops into transactions of bounded size.
type batcher struct {
	ctx      context.Context
	b        store.Backend
	ops      []store.Op
	bytes    int
	maxBytes int // a transaction's bytes, unless one op alone is more
}

func (w *batcher) add(op store.Op) error {
	size := len(op.Key) + len(op.Value)
	if len(w.ops) > 0 && (len(w.ops) == batchOps || w.bytes+size > w.maxBytes) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	w.ops, w.bytes = append(w.ops, op), w.bytes+size
	return nil
}

func (w *batcher) flush() error {
	if len(w.ops) == 0 {
		return nil
	}
	if _, err := w.b.Txn(w.ctx, nil, w.ops); err != nil {
		return fmt.Errorf("backup: write %d keys from %q: %w", len(w.ops), w.ops[0].Key, err)
	}
	w.ops, w.bytes = nil, 0
	return nil
}
