package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/mtlsgate/mtlsgate/store/backup"
)

// Restore writes the backup file at path (`mtlsgate backup`) into the
// store cfg names: the bbolt file of a new data directory, or an unused
// etcd prefix (a restore refuses a store holding data). The server must be
// stopped. No keyring is needed: sealed private keys are restored as they
// are, and the server started on the restored store needs the keyring that
// sealed them. A backup of a bbolt store restored with store: etcd moves
// the installation to etcd.
func Restore(ctx context.Context, cfg Config, log *slog.Logger, path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if cfg.Store != StoreEtcd {
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return offlineHint(err)
	}
	defer b.Close()
	l := backup.DefaultLimits()
	l.MaxValueBytes = max(l.MaxValueBytes, cfg.Limits.MaxCRLBytes+requestHeadroom)
	if cfg.Store == StoreEtcd {
		l.TargetRequestBytes = cfg.Etcd.MaxRequestBytes
	}
	info, err := backup.Restore(ctx, b, f, l)
	if err != nil {
		return err
	}
	where := cfg.Data
	if cfg.Store == StoreEtcd {
		where = fmt.Sprintf("etcd %v under %s", cfg.Etcd.Endpoints, cfg.Etcd.Prefix)
	}
	log.Info("restored a backup", "file", path, "keys", info.Keys, "revision", info.Revision, "taken", info.Created, "into", where)
	_, err = fmt.Fprintf(w, "Restored %d keys from %s (revision %d, taken %s) into %s.\nStart mtlsgate serve with the keyring that sealed them.\n",
		info.Keys, path, info.Revision, info.Created.Format("2006-01-02 15:04:05 MST"), where)
	return err
}
