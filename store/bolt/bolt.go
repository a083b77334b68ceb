package bolt

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/mtlsgate/mtlsgate/store"
)

const (
	// DefaultLockTimeout is the Options.LockTimeout used when it is zero.
	DefaultLockTimeout = time.Second
	// DefaultWatchHistoryBytes is the Options.WatchHistoryBytes used when it
	// is zero.
	DefaultWatchHistoryBytes = 64 << 20

	// fileMode is the permission of a newly created data file.
	fileMode = 0o600
	// formatVersion is the layout version stored under meta/format.
	formatVersion = "1"
)

var (
	metaBucket = []byte("meta")
	kvBucket   = []byte("kv")
	revKey     = []byte("rev")
	formatKey  = []byte("format")
)

// Options configures Open. The zero value selects the defaults.
type Options struct {
	// LockTimeout bounds how long Open waits for the lock on the data file
	// held by another process (DefaultLockTimeout when zero or negative).
	LockTimeout time.Duration
	// WatchHistoryBytes bounds the memory of the history that watches replay
	// from (DefaultWatchHistoryBytes when zero or negative).
	WatchHistoryBytes int64
}

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.WatchHistoryBytes <= 0 {
		o.WatchHistoryBytes = DefaultWatchHistoryBytes
	}
	return o
}

// Backend is a store.Backend stored in one bbolt file. It is safe for
// concurrent use.
type Backend struct {
	path string
	db   *bbolt.DB

	// txnMu serialises writing transactions with the publication of their
	// events, so that watches see them in revision order.
	txnMu sync.Mutex

	// life guards closed and db: operations hold it shared, Close
	// exclusively.
	life   sync.RWMutex
	closed bool
	done   chan struct{} // closed by Close

	mu      sync.Mutex // guards hist and changed
	hist    history
	changed chan struct{} // closed and replaced when hist grows
}

var _ store.Backend = (*Backend)(nil)

// Open opens the data file at path, creating it with mode 0600 when it does
// not exist. It fails when another process holds the file for longer than
// opts.LockTimeout.
func Open(path string, opts Options) (*Backend, error) {
	opts = opts.withDefaults()
	bopts := *bbolt.DefaultOptions
	bopts.Timeout = opts.LockTimeout
	db, err := bbolt.Open(path, fileMode, &bopts)
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: data file %s is in use by another process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	rev, err := initFile(db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return &Backend{
		path:    path,
		db:      db,
		done:    make(chan struct{}),
		hist:    history{limit: opts.WatchHistoryBytes, last: rev},
		changed: make(chan struct{}),
	}, nil
}

// initFile creates the buckets of a new file, checks the layout version of
// an existing one and returns its revision.
func initFile(db *bbolt.DB) (rev int64, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", metaBucket, err)
		}
		if _, err := tx.CreateBucketIfNotExists(kvBucket); err != nil {
			return fmt.Errorf("create bucket %s: %w", kvBucket, err)
		}
		if err := checkFormat(meta); err != nil {
			return err
		}
		rev, err = readRev(meta)
		return err
	})
	return rev, err
}

func checkFormat(meta *bbolt.Bucket) error {
	switch f := meta.Get(formatKey); {
	case f == nil:
		if err := meta.Put(formatKey, []byte(formatVersion)); err != nil {
			return fmt.Errorf("write format: %w", err)
		}
		return nil
	case string(f) != formatVersion:
		return fmt.Errorf("unsupported layout version %q (want %q)", f, formatVersion)
	}
	return nil
}

// enter starts an operation on the open file; leave ends it.
func (b *Backend) enter() error {
	b.life.RLock()
	if b.closed {
		b.life.RUnlock()
		return fmt.Errorf("bolt: %s: %w", b.path, store.ErrClosed)
	}
	return nil
}

func (b *Backend) leave() { b.life.RUnlock() }

// Close closes the data file and ends every watch. Later calls fail with
// store.ErrClosed; closing again does nothing and returns nil.
func (b *Backend) Close() error {
	b.life.Lock()
	defer b.life.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	close(b.done)
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("bolt: close %s: %w", b.path, err)
	}
	return nil
}
