package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
)

// Keys at rest (docs/operations.md, "Keys at rest"; docs/security.md).
const (
	// SealKeysEnv holds the keyring itself (the key file's text format;
	// entries may be separated by ';'). When set, it wins over the file.
	SealKeysEnv = "MTLSGATE_SEAL_KEYS"
	// SealKeyFileEnv overrides seal.key_file.
	SealKeyFileEnv = "MTLSGATE_SEAL_KEY_FILE"
	// DefaultSealKeyFile is the key file's name in the data directory
	// when seal.key_file is empty.
	DefaultSealKeyFile = "seal.key"
)

// SealConfig says where the keyring sealing the store's private keys
// comes from: MTLSGATE_SEAL_KEYS when set, else the key file.
type SealConfig struct {
	// KeyFile is the keyring file; empty means DATA/seal.key. Keep it, and
	// its backups, apart from the data directory's.
	KeyFile string `yaml:"key_file"`
	// CreateKeyFile creates KeyFile (mode 0600) with a fresh key at start
	// when it is absent and MTLSGATE_SEAL_KEYS is not set. Turn it off
	// where the file is provisioned, so a missing mount fails the start.
	CreateKeyFile bool `yaml:"create_key_file"`
	// Keys is the value of MTLSGATE_SEAL_KEYS; never read from the file.
	Keys secretText `yaml:"-"`
}

// secretText is a string that never prints.
type secretText string

// String hides the value.
func (secretText) String() string { return "[redacted]" }

// GoString hides the value.
func (secretText) GoString() string { return "[redacted]" }

// keyFile is the key file path in force.
func (c Config) keyFile() string {
	if c.Seal.KeyFile != "" {
		return c.Seal.KeyFile
	}
	return filepath.Join(c.Data, DefaultSealKeyFile)
}

// loadKeyring loads the keyring cfg names and logs where it came from
// (never the keys). create allows writing a new key file.
func loadKeyring(cfg Config, log *slog.Logger, create bool) (*seal.Keyring, seal.Source, error) {
	ring, src, err := seal.Load(seal.LoadOptions{
		File: cfg.keyFile(), EnvName: SealKeysEnv, EnvValue: string(cfg.Seal.Keys),
		Create: create && cfg.Seal.CreateKeyFile,
	})
	if err != nil {
		return nil, src, fmt.Errorf("keyring: %w", err)
	}
	if src.Ignored != "" {
		log.Warn("keyring from the environment; the key file is ignored", "env", src.Env, "ignored_file", src.Ignored)
	}
	if src.Created {
		log.Warn("created a new keyring file; back it up apart from the data directory (docs/operations.md)", "file", src.File, "keyring", ring)
	} else {
		log.Info("keyring loaded", "from", src.String(), "keyring", ring)
	}
	return ring, src, nil
}

// openStore loads the keyring and opens the embedded store with it. When
// the store held plaintext private keys (written before sealing), Open
// seals them and openStore compacts the file so that their bytes do not
// linger in free pages. A key file created now is removed again when the
// store does not open with it.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (*store.Store, error) {
	ring, src, err := loadKeyring(cfg, log, true)
	if err != nil {
		return nil, err
	}
	st, err := openStoreWith(ctx, cfg, log, ring)
	if err != nil {
		if src.Created {
			_ = os.Remove(src.File)
		}
		return nil, keyringHint(err, ring, src)
	}
	if st.SealedAtOpen() == 0 {
		return st, nil
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	what, err := compactStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("compact the store after sealing its private keys: %w", err)
	}
	log.Info("compacted the store: the plaintext keys' old copies are gone", "compacted", what)
	return openStoreWith(ctx, cfg, log, ring)
}

// openStoreWith opens the store of cfg (bbolt or etcd) with ring.
func openStoreWith(ctx context.Context, cfg Config, log *slog.Logger, ring *seal.Keyring) (*store.Store, error) {
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, b, store.Options{Limits: cfg.Limits, Logger: log, Keyring: ring})
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return st, nil
}

// keyringHint adds to a store error caused by the keyring what the
// operator should do.
func keyringHint(err error, ring *seal.Keyring, src seal.Source) error {
	var uk *seal.UnknownKeyError
	switch {
	case errors.As(err, &uk):
		return fmt.Errorf("%w; the keyring from %s holds %v: restore the key file (or %s) that holds key %q from its backup (docs/operations.md)",
			err, src, ring.IDs(), SealKeysEnv, uk.ID)
	case errors.Is(err, seal.ErrAuth):
		return fmt.Errorf("%w; a sealed value was altered or moved to another record, or the keyring from %s holds another key under the same id", err, src)
	}
	return err
}
