package store

import (
	"context"
	"errors"
)

// Backend is the revisioned key-value storage a Store runs on. Its semantics
// follow etcd's so that an etcd backend maps onto it directly: every
// transaction that writes gets the next revision of the whole keyspace, every
// key remembers the revision that last modified it, transactions compare mod
// revisions before writing, and a watch replays changes after a revision.
//
// Implementations must be safe for concurrent use. store/storetest holds the
// conformance suite every implementation passes.
type Backend interface {
	// Get returns the value of one key; ok is false when it is absent.
	Get(ctx context.Context, key string) (kv KV, ok bool, err error)
	// Range returns the keys in r, sorted, and the revision it read at.
	Range(ctx context.Context, r Range) (kvs []KV, rev int64, err error)
	// Txn applies ops atomically when every compare holds and returns the
	// new revision. When a compare fails it returns ErrConflict and changes
	// nothing. A transaction without ops changes nothing and returns the
	// current revision.
	Txn(ctx context.Context, cmps []Compare, ops []Op) (rev int64, err error)
	// Watch sends, in revision order, one WatchResponse per transaction that
	// changed a key under prefix after revision rev. The channel is closed
	// when ctx ends or the watch fails; a failure is sent first as a
	// response with Err set (ErrCompacted when rev is older than the oldest
	// revision the backend can replay).
	Watch(ctx context.Context, prefix string, rev int64) <-chan WatchResponse
	// Close releases the backend. Watches end.
	Close() error
}

// KV is a key, its value and the revision that last modified it.
type KV struct {
	Key    string
	Value  []byte
	ModRev int64
}

// Range selects keys in [Start, End), in key order or reversed, at most
// Limit of them (0: no limit). An empty End means "to the end".
type Range struct {
	Start, End string
	Limit      int
	Reverse    bool
}

// Prefix returns the Range of every key starting with p.
func Prefix(p string) Range {
	return Range{Start: p, End: PrefixEnd(p)}
}

// PrefixEnd returns the smallest key greater than every key starting with p,
// or "" (the end of the keyspace) when there is none.
func PrefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// Compare holds when Key was last modified at ModRev; ModRev 0 means the key
// is absent.
type Compare struct {
	Key    string
	ModRev int64
}

// Op writes Value to Key, or deletes Key when Delete is set. Deleting an
// absent key is not an error.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Event is one key changed by a transaction. Value is nil for a delete.
type Event struct {
	KV
	Delete bool
}

// WatchResponse carries the changes of one transaction, or the error that
// ended the watch.
type WatchResponse struct {
	Rev    int64
	Events []Event
	Err    error
}

var (
	// ErrConflict means a transaction's compare failed; nothing was written.
	ErrConflict = errors.New("store: transaction conflict")
	// ErrCompacted means a watch asked for revisions no longer kept.
	ErrCompacted = errors.New("store: revision compacted")
	// ErrClosed means the backend was closed.
	ErrClosed = errors.New("store: backend closed")
)
