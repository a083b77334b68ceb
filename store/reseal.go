package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"time"

	"google.golang.org/protobuf/proto"
)

// Reseal seals every secret value that is plaintext or sealed under a key
// other than the keyring's primary again under the primary, in one
// transaction audited as a's, and returns how many values it sealed. It
// is idempotent: run again, it finds nothing to do. A value that does not
// open (a key missing from the keyring) fails it and nothing changes.
//
// Rotation (docs/operations.md) is: add a new primary key to the keyring,
// open the store with it, Reseal, drop the old key.
func (s *Store) Reseal(ctx context.Context, a Actor) (int, error) {
	if s.ring == nil {
		return 0, ErrNoKeyring
	}
	s.writes.Lock()
	defer s.writes.Unlock()
	for range maxCommitAttempts {
		serial, _, err := s.b.Get(ctx, serialKey)
		if err != nil {
			return 0, fmt.Errorf("store: reseal: %w", err)
		}
		ops, cmps, n, err := s.resealOps(ctx)
		if err != nil || n == 0 {
			return 0, err
		}
		ev := s.NewAuditEvent(a, "keys", AuditResultOK, fmt.Sprintf("sealed %d values under key %s", n, s.ring.Primary()))
		audit, err := s.putOp(auditPrefix+ev.GetId(), ev)
		if err != nil {
			return 0, err
		}
		ops = append(ops, audit, Op{Key: serialKey, Value: []byte(s.now().UTC().Format(time.RFC3339Nano))})
		cmps = append(cmps, Compare{Key: serialKey, ModRev: serial.ModRev})
		rev, err := s.b.Txn(ctx, cmps, ops)
		if errors.Is(err, ErrConflict) {
			continue // another writer got in first: read again
		}
		if err != nil {
			return 0, fmt.Errorf("store: reseal: %w", err)
		}
		s.waitRev(rev)
		return n, nil
	}
	return 0, fmt.Errorf("store: reseal: gave up after %d conflicting attempts: %w", maxCommitAttempts, ErrConflict)
}

// resealOps reads every record with secret fields from the backend and
// returns the puts that seal its values under the primary key, for the
// records that need it, with a compare on each, and the number of values.
func (s *Store) resealOps(ctx context.Context) (ops []Op, cmps []Compare, n int, err error) {
	primary := s.ring.Primary()
	for _, rec := range secretRecords {
		kvs, _, err := s.b.Range(ctx, Prefix(rec.prefix))
		if err != nil {
			return nil, nil, 0, fmt.Errorf("store: reseal: %w", err)
		}
		for _, kv := range kvs {
			msg := rec.newMsg()
			ids, err := decodeRecord(s.ring, kv, msg)
			if err != nil {
				return nil, nil, 0, err
			}
			if !slices.ContainsFunc(ids, func(id string) bool { return id != primary }) {
				continue
			}
			op, err := encodeRecord(s.ring, kv.Key, msg)
			if err != nil {
				return nil, nil, 0, err
			}
			ops = append(ops, op)
			cmps = append(cmps, Compare{Key: kv.Key, ModRev: kv.ModRev})
			n += len(ids)
		}
	}
	return ops, cmps, n, nil
}

// SealStatus counts the secret values in the backend by how they are
// stored.
type SealStatus struct {
	// ByKey counts the values sealed under each key id (present in the
	// keyring or not).
	ByKey map[string]int
	// Plaintext counts values not sealed (written before sealing existed).
	Plaintext int
}

// KeyIDs returns the key ids of ByKey, sorted.
func (st SealStatus) KeyIDs() []string { return slices.Sorted(maps.Keys(st.ByKey)) }

// SealStatus is ReadSealStatus of the store's backend.
func (s *Store) SealStatus(ctx context.Context) (SealStatus, error) {
	return ReadSealStatus(ctx, s.b)
}

// ReadSealStatus reads every secret value from b and counts them by the
// key they are sealed under. It opens nothing and needs no keyring, so it
// also tells what a store needs when its keyring is lost or wrong.
func ReadSealStatus(ctx context.Context, b Backend) (SealStatus, error) {
	out := SealStatus{ByKey: map[string]int{}}
	for _, rec := range secretRecords {
		kvs, _, err := b.Range(ctx, Prefix(rec.prefix))
		if err != nil {
			return out, fmt.Errorf("store: seal status: %w", err)
		}
		for _, kv := range kvs {
			msg := rec.newMsg()
			if err := proto.Unmarshal(kv.Value, msg); err != nil {
				return out, fmt.Errorf("store: seal status: decode %s: %w", kv.Key, err)
			}
			for _, path := range rec.paths {
				m, fd, ok := fieldAt(msg.ProtoReflect(), path, false)
				if !ok || m.Get(fd).String() == "" {
					continue
				}
				_, id, err := storedKeyID(m.Get(fd).String())
				if err != nil {
					return out, fmt.Errorf("store: seal status: %s %s: %w", kv.Key, path, err)
				}
				if id == "" {
					out.Plaintext++
				} else {
					out.ByKey[id]++
				}
			}
		}
	}
	return out, nil
}
