package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"text/tabwriter"

	bberrors "go.etcd.io/bbolt/errors"

	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
)

// rotateStep names the steps of RotateKeys, for the crash tests.
type rotateStep string

const (
	stepKeyringWithBoth rotateStep = "keyring-with-both" // the key file holds the new primary and the old keys
	stepResealed        rotateStep = "resealed"          // every value is sealed under the new primary
	stepCompacted       rotateStep = "compacted"         // the store file holds no old ciphertext
)

// afterRotateStep, when set (tests only), runs after each step of
// RotateKeys; an error stops the rotation there, as a crash would.
var afterRotateStep func(rotateStep) error

// RotateResult says what RotateKeys did.
type RotateResult struct {
	KeyFile string
	// NewKey is the new primary key id; Retired are the ids dropped.
	NewKey  string
	Retired []string
	// Resealed is how many values were sealed under the new key.
	Resealed int
}

// RotateKeys replaces the primary key of the key file and retires the
// others, with the server stopped (the store file is locked while it
// runs). Every step leaves a key file that opens the store, so a crash at
// any point is repaired by running it again:
//
//  1. write the key file with a new primary key followed by the old keys
//     (atomic rename);
//  2. seal every value under the new key, in one store transaction;
//  3. compact the store file, so that no old ciphertext remains in its
//     free pages;
//  4. write the key file with the new key alone (atomic rename).
//
// A keyring from MTLSGATE_SEAL_KEYS cannot be rewritten: RotateKeys
// refuses it (docs/operations.md gives the procedure).
func RotateKeys(ctx context.Context, cfg Config, log *slog.Logger) (RotateResult, error) {
	res := RotateResult{KeyFile: cfg.keyFile()}
	if cfg.Seal.Keys != "" {
		return res, fmt.Errorf("the keyring comes from %s, which mtlsgate cannot rewrite: rotate by hand (docs/operations.md, \"Rotating the key\")", SealKeysEnv)
	}
	ring, _, err := loadKeyring(cfg, log, false)
	if err != nil {
		return res, err
	}
	both, err := ring.WithNewPrimary()
	if err != nil {
		return res, err
	}
	res.NewKey, res.Retired = both.Primary(), ring.IDs()
	// Check that the store opens (and is not in use) before touching the
	// key file.
	if err := checkOpens(ctx, cfg, log, ring); err != nil {
		return res, err
	}
	if err := seal.WriteFile(res.KeyFile, both); err != nil {
		return res, err
	}
	log.Info("key file now holds the new primary key and the old ones", "file", res.KeyFile, "keyring", both)
	if err := rotateStepDone(stepKeyringWithBoth); err != nil {
		return res, err
	}
	if res.Resealed, err = reseal(ctx, cfg, log, both); err != nil {
		return res, err
	}
	if err := rotateStepDone(stepResealed); err != nil {
		return res, err
	}
	if _, err := compactStore(ctx, cfg); err != nil {
		return res, fmt.Errorf("compact the store: %w", err)
	}
	if err := rotateStepDone(stepCompacted); err != nil {
		return res, err
	}
	only, err := both.Only(both.Primary())
	if err != nil {
		return res, err
	}
	if err := seal.WriteFile(res.KeyFile, only); err != nil {
		return res, err
	}
	log.Info("retired the old keys", "file", res.KeyFile, "keyring", only, "retired", res.Retired)
	return res, nil
}

func rotateStepDone(s rotateStep) error {
	if afterRotateStep == nil {
		return nil
	}
	return afterRotateStep(s)
}

// checkOpens opens and closes the store with ring.
func checkOpens(ctx context.Context, cfg Config, log *slog.Logger, ring *seal.Keyring) error {
	st, err := openStoreWith(ctx, cfg, log, ring)
	if err != nil {
		return offlineHint(err)
	}
	return st.Close()
}

// reseal seals every value under ring's primary and checks that no value
// is left under another key.
func reseal(ctx context.Context, cfg Config, log *slog.Logger, ring *seal.Keyring) (int, error) {
	st, err := openStoreWith(ctx, cfg, log, ring)
	if err != nil {
		return 0, offlineHint(err)
	}
	defer st.Close()
	n, err := st.Reseal(ctx, store.Actor{TokenID: "keys-rotate", Action: "RotateKeys"})
	if err != nil {
		return 0, err
	}
	status, err := st.SealStatus(ctx)
	if err != nil {
		return 0, err
	}
	for _, id := range status.KeyIDs() {
		if id != ring.Primary() {
			return 0, fmt.Errorf("%d values are still sealed under key %s after resealing", status.ByKey[id], id)
		}
	}
	log.Info("sealed every value under the new primary key", "values", n, "key_id", ring.Primary())
	return n, nil
}

// offlineHint explains a store that is locked by a running server.
func offlineHint(err error) error {
	if errors.Is(err, bberrors.ErrTimeout) {
		return fmt.Errorf("%w (stop mtlsgate serve first: keys commands run offline)", err)
	}
	return err
}

// KeysStatus writes the keyring's key ids and how many stored values each
// seals, including values under keys the keyring lacks. It reads the
// store without opening its values, so it works with a wrong keyring, and
// needs the server stopped.
func KeysStatus(ctx context.Context, cfg Config, log *slog.Logger, w io.Writer) error {
	ring, src, err := loadKeyring(cfg, log, false)
	if err != nil {
		return err
	}
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return offlineHint(err)
	}
	defer b.Close()
	status, err := store.ReadSealStatus(ctx, b)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Keyring from %s.\n", src)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tROLE\tSEALED VALUES")
	for i, id := range ring.IDs() {
		role := "old (retire with keys rotate)"
		if i == 0 {
			role = "primary"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", id, role, status.ByKey[id])
	}
	missing := 0
	for _, id := range status.KeyIDs() {
		if !slices.Contains(ring.IDs(), id) {
			fmt.Fprintf(tw, "%s\tMISSING from the keyring\t%d\n", id, status.ByKey[id])
			missing += status.ByKey[id]
		}
	}
	if status.Plaintext > 0 {
		fmt.Fprintf(tw, "-\tplaintext (sealed at the next start)\t%d\n", status.Plaintext)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if missing > 0 {
		return fmt.Errorf("%d values are sealed under keys the keyring lacks: the server will not start", missing)
	}
	return nil
}
