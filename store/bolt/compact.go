package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// compactTxBytes bounds the size of one copying transaction of CompactFile.
const compactTxBytes = 64 << 20

// CompactFile rewrites the data file at path to hold only its live data
// and atomically replaces it. bbolt keeps the bytes of overwritten and
// deleted values in free pages until it reuses them, so after plaintext
// secrets are sealed or values sealed under a retired key are sealed again
// the old bytes can still be read from the file; compaction removes them.
// The file must not be in use: CompactFile holds its lock throughout, and
// fails like Open when another process holds it.
func CompactFile(path string, opts Options) error {
	opts = opts.withDefaults()
	bopts := *bbolt.DefaultOptions
	bopts.Timeout = opts.LockTimeout
	src, err := bbolt.Open(path, fileMode, &bopts)
	if errors.Is(err, bberrors.ErrTimeout) {
		return fmt.Errorf("bolt: data file %s is in use by another process: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	defer src.Close()
	tmp := path + ".compact"
	_ = os.Remove(tmp) // left by an interrupted compaction
	dst, err := bbolt.Open(tmp, fileMode, &bopts)
	if err != nil {
		return fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	if err := bbolt.Compact(dst, src, compactTxBytes); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	// Replace the file while still holding the old one's lock.
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("bolt: compact %s: sync directory: %w", path, err)
	}
	return nil
}
