// Package store holds mtlsgate's configuration: client CAs, sites, CRLs,
// tokens and the audit log. It enforces the domain rules and limits on top of
// a small revisioned key-value Backend (bbolt embedded, etcd for HA).
//
// Every write is validated against the current State and committed in one
// backend transaction, or not at all. Readers never touch the backend: they
// get immutable States, published in revision order as the store's watch on
// the backend sees committed transactions — including other processes'
// writes when the backend is shared.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/seal"
)

// Options configure a Store.
type Options struct {
	Limits Limits
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Keyring seals the secret fields of records (site private keys)
	// before they reach the backend and opens them when read. Without
	// one, Open refuses a store holding any secret, sealed or not, and a
	// write of a secret fails with ErrNoKeyring. With one, plaintext
	// secrets written by older versions are sealed at Open, in one
	// transaction. See secrets.go.
	Keyring *seal.Keyring
	// ProbeInterval is how often the backend is checked (Health);
	// DefaultProbeInterval when zero.
	ProbeInterval time.Duration
}

// Store is the configuration store. It is safe for concurrent use.
type Store struct {
	b      Backend
	limits Limits
	log    *slog.Logger
	now    func() time.Time
	ring   *seal.Keyring
	// sealedAtOpen is how many plaintext secrets Open sealed.
	sealedAtOpen int

	state    atomic.Pointer[State]
	health   atomic.Pointer[Health]
	healthMu sync.Mutex // serialises setHealth
	writes   sync.Mutex // serialises this process's writers
	cancel   context.CancelFunc
	done     chan struct{} // closed when follow returns
	probes   sync.WaitGroup
}

// maxCommitAttempts bounds retries of a write that lost a race with
// another writer of a shared backend.
const maxCommitAttempts = 8

// readYourWritesWait bounds how long a write waits for its own change to
// come back through the watch before returning anyway.
const readYourWritesWait = 5 * time.Second

// Open loads the configuration from b and keeps it current. The Store owns
// b from now on and closes it in Close.
func Open(ctx context.Context, b Backend, opts Options) (*Store, error) {
	s := &Store{
		b:      b,
		limits: opts.Limits.withDefaults(),
		log:    opts.Logger,
		now:    opts.Now,
		ring:   opts.Keyring,
		done:   make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if _, unfinished, err := b.Get(ctx, RestoreMarkerKey); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	} else if unfinished {
		return nil, ErrRestoreUnfinished
	}
	st, plain, err := s.loadAll(ctx)
	if err != nil {
		return nil, err
	}
	if len(plain) > 0 && s.ring == nil {
		return nil, fmt.Errorf("%w: the store holds %d plaintext private keys (first: %s); open it with a keyring to seal them", ErrNoKeyring, len(plain), plain[0])
	}
	s.state.Store(st)
	s.health.Store(&Health{OK: true, Since: s.now()})
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.follow(wctx, st.Rev)
	if len(plain) > 0 {
		if err := s.migrate(ctx, len(plain)); err != nil {
			// Like any failed Open, leave the backend to the caller.
			cancel()
			<-s.done
			return nil, err
		}
	}
	interval := opts.ProbeInterval
	if interval <= 0 {
		interval = DefaultProbeInterval
	}
	s.probes.Go(func() { s.probe(wctx, interval) })
	return s, nil
}

// migrate seals the plaintext secrets an older version wrote, in one
// transaction, and logs it once.
func (s *Store) migrate(ctx context.Context, plain int) error {
	n, err := s.Reseal(ctx, Actor{TokenID: "system", Action: "SealPlaintextKeys"})
	if err != nil {
		return fmt.Errorf("store: seal %d plaintext private keys: %w", plain, err)
	}
	s.sealedAtOpen = n
	s.log.Warn("sealed plaintext private keys found in the store (first open with a keyring)",
		"values", n, "key_id", s.ring.Primary())
	return nil
}

// SealedAtOpen returns how many plaintext secrets, written before sealing
// existed, Open sealed. Their plaintext bytes may remain in the backend's
// free space (bolt.CompactFile removes them).
func (s *Store) SealedAtOpen() int { return s.sealedAtOpen }

// Limits returns the limits in force.
func (s *Store) Limits() Limits { return s.limits }

// Close stops following and probing the backend and closes it.
func (s *Store) Close() error {
	s.cancel()
	<-s.done
	s.probes.Wait()
	return s.b.Close()
}

// Current returns the latest published State.
func (s *Store) Current() *State { return s.state.Load() }

// Next waits for a State newer than st and returns the latest one.
func (s *Store) Next(ctx context.Context, st *State) (*State, error) {
	select {
	case <-st.next:
		return s.Current(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// load reads the whole configuration.
func (s *Store) load(ctx context.Context) (*State, error) {
	st, plain, err := s.loadAll(ctx)
	if err == nil && len(plain) > 0 {
		s.log.Warn("store holds plaintext private keys written by another process; they are sealed at the next open", "count", len(plain))
	}
	return st, err
}

// loadAll reads the whole configuration and returns the keys of records
// holding a plaintext secret.
func (s *Store) loadAll(ctx context.Context) (*State, []string, error) {
	kvs, rev, err := s.b.Range(ctx, Prefix(configPrefix))
	if err != nil {
		return nil, nil, &readError{err}
	}
	events := make([]Event, len(kvs))
	for i, kv := range kvs {
		events[i] = Event{KV: kv}
	}
	return emptyState().applyWith(rev, events, s.ring)
}

// follow applies the backend's watch to the published State until ctx
// ends. A compacted or broken watch is answered by a full reload.
func (s *Store) follow(ctx context.Context, rev int64) {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.followOnce(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("store watch ended; reloading", "err", err)
		st, lerr := s.load(ctx)
		if ctx.Err() != nil {
			return
		}
		// Only a failed read says the backend is unavailable; a record
		// this process cannot apply (another's keyring, a newer format)
		// is logged below and keeps the last State, whatever the probe.
		var re *readError
		if lerr == nil || errors.As(lerr, &re) {
			s.setHealth(lerr)
		}
		if lerr != nil {
			s.log.Error("store reload failed; the last configuration keeps serving", "err", lerr)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		s.publish(st)
		rev = st.Rev
	}
}

func (s *Store) followOnce(ctx context.Context, rev int64) error {
	for resp := range s.b.Watch(ctx, configPrefix, rev) {
		if resp.Err != nil {
			return resp.Err
		}
		st, plain, err := s.Current().applyWith(resp.Rev, resp.Events, s.ring)
		if err != nil {
			return err
		}
		if len(plain) > 0 {
			s.log.Warn("another process wrote plaintext private keys; they are sealed at the next open", "count", len(plain))
		}
		s.publish(st)
	}
	return errors.New("watch channel closed")
}

// publish makes st current and wakes everyone waiting on the previous one.
func (s *Store) publish(st *State) {
	old := s.state.Swap(st)
	if old != nil {
		close(old.next)
	}
}

// waitRev waits until the published State reaches rev, at most
// readYourWritesWait. The write has committed either way, so a slow watch
// is logged, not returned.
func (s *Store) waitRev(rev int64) *State {
	ctx, cancel := context.WithTimeout(context.Background(), readYourWritesWait)
	defer cancel()
	for st := s.Current(); ; {
		if st.Rev >= rev {
			return st
		}
		next, err := s.Next(ctx, st)
		if err != nil {
			s.log.Warn("store watch is behind a committed write", "rev", rev, "seen", st.Rev)
			return st
		}
		st = next
	}
}

// commit validates and writes one configuration change. build sees the
// current State and returns the ops to apply, or an error that aborts the
// write. It runs again when another writer got in first.
func (s *Store) commit(ctx context.Context, build func(st *State) ([]Op, error)) (*State, error) {
	s.writes.Lock()
	defer s.writes.Unlock()
	for range maxCommitAttempts {
		st := s.Current()
		ops, err := build(st)
		if err != nil {
			return nil, err
		}
		ops = append(ops, Op{Key: serialKey, Value: []byte(s.now().UTC().Format(time.RFC3339Nano))})
		rev, err := s.txn(ctx, []Compare{{Key: serialKey, ModRev: st.serialRev}}, ops)
		if errors.Is(err, ErrConflict) {
			// Another process wrote first: wait until we have seen it.
			wctx, cancel := context.WithTimeout(ctx, readYourWritesWait)
			_, werr := s.Next(wctx, st)
			cancel()
			if werr != nil && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		if err != nil {
			return nil, commitError(ctx, err)
		}
		return s.waitRev(rev), nil
	}
	return nil, fmt.Errorf("store: commit: gave up after %d conflicting attempts: %w", maxCommitAttempts, ErrConflict)
}

// unhealthyTxnTimeout bounds a transaction while the backend is known to
// be unavailable: the write is still tried (the backend may be back before
// the next probe says so), but its caller is not kept waiting long.
const unhealthyTxnTimeout = 2 * time.Second

// txn runs a transaction, with a short deadline while the backend is
// unavailable.
func (s *Store) txn(ctx context.Context, cmps []Compare, ops []Op) (int64, error) {
	if !s.Health().OK {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, unhealthyTxnTimeout)
		defer cancel()
	}
	return s.b.Txn(ctx, cmps, ops)
}

// readError is a failure to read the backend, as opposed to one to apply
// what was read.
type readError struct{ err error }

func (e *readError) Error() string { return "store: load: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// commitError classifies a failed transaction: the caller's context
// ending, a limit of the backend (ErrLimit), the store closed (a fault of
// the program, not of the backend), or else the backend being unavailable
// (ErrUnavailable).
func commitError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("store: commit: %w", ctx.Err())
	case errors.Is(err, ErrLimit), errors.Is(err, ErrClosed):
		return fmt.Errorf("store: commit: %w", err)
	}
	return fmt.Errorf("store: commit: %w: %w", ErrUnavailable, err)
}

// putOp encodes msg for key, sealing its secret fields (encodeRecord).
func (s *Store) putOp(key string, msg proto.Message) (Op, error) {
	return encodeRecord(s.ring, key, msg)
}

// newID returns a random 16-hex-digit identifier.
func newID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}
