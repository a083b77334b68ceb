package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/mtlsgate/mtlsgate/store"
)

// revSize is the size of an encoded revision.
const revSize = 8

// errUnchanged rolls back a writing transaction whose ops changed nothing.
var errUnchanged = errors.New("bolt: transaction changed nothing")

func encodeRev(rev int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, revSize), uint64(rev))
}

func readRev(meta *bbolt.Bucket) (int64, error) {
	v := meta.Get(revKey)
	if v == nil {
		return 0, nil
	}
	if len(v) != revSize {
		return 0, fmt.Errorf("meta/rev has %d bytes, want %d", len(v), revSize)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// encodeValue returns the stored form of value: its mod revision followed
// by a copy of value.
func encodeValue(rev int64, value []byte) []byte {
	buf := make([]byte, revSize+len(value))
	binary.BigEndian.PutUint64(buf, uint64(rev))
	copy(buf[revSize:], value)
	return buf
}

// decodeValue turns a stored key and value into a KV that owns its memory.
func decodeValue(k, v []byte) (store.KV, error) {
	if len(v) < revSize {
		return store.KV{}, fmt.Errorf("key %q: stored value has %d bytes, want at least %d", k, len(v), revSize)
	}
	return store.KV{
		Key:    string(k),
		Value:  bytes.Clone(v[revSize:]),
		ModRev: int64(binary.BigEndian.Uint64(v)),
	}, nil
}

// modRev returns the mod revision of key, 0 when it is absent.
func modRev(kv *bbolt.Bucket, key string) (int64, error) {
	v := kv.Get([]byte(key))
	if v == nil {
		return 0, nil
	}
	if len(v) < revSize {
		return 0, fmt.Errorf("key %q: stored value has %d bytes, want at least %d", key, len(v), revSize)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// Get returns the value of key; ok is false when it is absent.
func (b *Backend) Get(ctx context.Context, key string) (kv store.KV, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return store.KV{}, false, err
	}
	if err := b.enter(); err != nil {
		return store.KV{}, false, err
	}
	defer b.leave()
	err = b.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(kvBucket).Get([]byte(key))
		if v == nil {
			return nil
		}
		ok = true
		kv, err = decodeValue([]byte(key), v)
		return err
	})
	if err != nil {
		return store.KV{}, false, fmt.Errorf("bolt: get %q from %s: %w", key, b.path, err)
	}
	return kv, ok, nil
}

// Range returns the keys in r, sorted as r asks, and the revision it read
// at.
func (b *Backend) Range(ctx context.Context, r store.Range) (kvs []store.KV, rev int64, err error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := b.enter(); err != nil {
		return nil, 0, err
	}
	defer b.leave()
	err = b.db.View(func(tx *bbolt.Tx) error {
		if rev, err = readRev(tx.Bucket(metaBucket)); err != nil {
			return err
		}
		kvs, err = scan(tx.Bucket(kvBucket).Cursor(), r)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("bolt: range [%q, %q) in %s: %w", r.Start, r.End, b.path, err)
	}
	return kvs, rev, nil
}

// scan collects the keys of r from c.
func scan(c *bbolt.Cursor, r store.Range) ([]store.KV, error) {
	start, end := []byte(r.Start), []byte(r.End)
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		return nil, nil
	}
	inRange := func(k []byte) bool {
		return k != nil && bytes.Compare(k, start) >= 0 && (len(end) == 0 || bytes.Compare(k, end) < 0)
	}
	k, v, step := first(c, start, end, r.Reverse)
	var kvs []store.KV
	for ; inRange(k) && (r.Limit <= 0 || len(kvs) < r.Limit); k, v = step() {
		kv, err := decodeValue(k, v)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, kv)
	}
	return kvs, nil
}

// first positions c on the first key of [start, end) in the scan direction
// and returns the function that steps to the next one.
func first(c *bbolt.Cursor, start, end []byte, reverse bool) (k, v []byte, step func() ([]byte, []byte)) {
	if !reverse {
		k, v = c.Seek(start)
		return k, v, c.Next
	}
	if len(end) == 0 {
		k, v = c.Last()
		return k, v, c.Prev
	}
	if k, _ = c.Seek(end); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	return k, v, c.Prev
}

// Txn applies ops atomically when every compare holds and returns the new
// revision. A failed compare returns an error wrapping store.ErrConflict and
// changes nothing. When the ops change nothing (none, or only deletes of
// absent keys), Txn writes nothing and returns the current revision.
func (b *Backend) Txn(ctx context.Context, cmps []store.Compare, ops []store.Op) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.txnMu.Lock()
	defer b.txnMu.Unlock()
	if err := b.enter(); err != nil {
		return 0, err
	}
	defer b.leave()
	rev, events, err := b.update(cmps, ops)
	if err != nil {
		return 0, fmt.Errorf("bolt: txn in %s: %w", b.path, err)
	}
	if len(events) > 0 {
		b.publish(rev, events)
	}
	return rev, nil
}

// update runs one transaction and returns the revision it committed, or the
// current one with no events when it changed nothing.
func (b *Backend) update(cmps []store.Compare, ops []store.Op) (rev int64, events []store.Event, err error) {
	if len(ops) == 0 {
		err = b.db.View(func(tx *bbolt.Tx) error {
			if err := checkCompares(tx.Bucket(kvBucket), cmps); err != nil {
				return err
			}
			rev, err = readRev(tx.Bucket(metaBucket))
			return err
		})
		return rev, nil, err
	}
	err = b.db.Update(func(tx *bbolt.Tx) error {
		rev, events, err = apply(tx, cmps, ops)
		if err == nil && len(events) == 0 {
			return errUnchanged
		}
		return err
	})
	if errors.Is(err, errUnchanged) {
		return rev, nil, nil
	}
	return rev, events, err
}

// apply checks cmps and applies ops inside tx. It returns the revision it
// wrote and the events, or the current revision and no events when nothing
// changed.
func apply(tx *bbolt.Tx, cmps []store.Compare, ops []store.Op) (int64, []store.Event, error) {
	meta, kv := tx.Bucket(metaBucket), tx.Bucket(kvBucket)
	if err := checkCompares(kv, cmps); err != nil {
		return 0, nil, err
	}
	cur, err := readRev(meta)
	if err != nil {
		return 0, nil, err
	}
	events, err := applyOps(kv, ops, cur+1)
	if err != nil || len(events) == 0 {
		return cur, nil, err
	}
	if err := meta.Put(revKey, encodeRev(cur+1)); err != nil {
		return 0, nil, fmt.Errorf("write revision: %w", err)
	}
	return cur + 1, events, nil
}

func checkCompares(kv *bbolt.Bucket, cmps []store.Compare) error {
	for _, c := range cmps {
		got, err := modRev(kv, c.Key)
		if err != nil {
			return err
		}
		if got != c.ModRev {
			return fmt.Errorf("compare %q: mod revision is %d, want %d: %w", c.Key, got, c.ModRev, store.ErrConflict)
		}
	}
	return nil
}

// applyOps writes ops at revision rev and returns one event per key it
// changed.
func applyOps(kv *bbolt.Bucket, ops []store.Op, rev int64) ([]store.Event, error) {
	events := make([]store.Event, 0, len(ops))
	for _, op := range ops {
		key := []byte(op.Key)
		if op.Delete {
			if kv.Get(key) == nil {
				continue
			}
			if err := kv.Delete(key); err != nil {
				return nil, fmt.Errorf("delete %q: %w", op.Key, err)
			}
			events = append(events, store.Event{KV: store.KV{Key: op.Key, ModRev: rev}, Delete: true})
			continue
		}
		stored := encodeValue(rev, op.Value)
		if err := kv.Put(key, stored); err != nil {
			return nil, fmt.Errorf("put %q: %w", op.Key, err)
		}
		// bbolt only reads stored until the transaction ends; the event
		// then owns it.
		events = append(events, store.Event{KV: store.KV{Key: op.Key, Value: stored[revSize:], ModRev: rev}})
	}
	return events, nil
}
