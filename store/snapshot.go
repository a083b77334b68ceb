package store

import (
	"context"
	"errors"
)

// RestoreMarkerKey is written first and deleted last by a restore (package
// backup): while it is there the store holds part of a backup, and Open
// refuses it.
const RestoreMarkerKey = "restore-in-progress"

// ErrRestoreUnfinished is Open's refusal of a store a restore did not
// finish.
var ErrRestoreUnfinished = errors.New("store: a restore into this store did not finish: run `mtlsgate restore` again with the same backup")

// Snapshot returns every key of the store and its value as the backend
// holds them (secrets sealed), in key order, at one revision, which it
// returns too: what a backup holds.
func (s *Store) Snapshot(ctx context.Context) ([]KV, int64, error) {
	return s.b.Range(ctx, Range{})
}
