package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	bberrors "go.etcd.io/bbolt/errors"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// RecoverAdmin creates a new admin token directly in the store of
// cfg.Data and writes it to the admin token file, for an operator who has
// lost every admin token. It needs the server stopped: the store file is
// locked while it runs. It opens the store like serve does, with the
// keyring of cfg. The write is audited with actor "recovery".
func RecoverAdmin(ctx context.Context, cfg Config, log *slog.Logger) (path string, err error) {
	dataDir := cfg.Data
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		if errors.Is(err, bberrors.ErrTimeout) {
			err = fmt.Errorf("%w (stop mtlsgate serve first)", err)
		}
		return "", err
	}
	defer st.Close()
	a := store.Actor{TokenID: "recovery", Action: "RecoverAdmin"}
	_, secret, err := st.CreateToken(ctx, a, "recovered-admin", pb.Role_ROLE_ADMIN, nil)
	if err != nil {
		return "", err
	}
	path = filepath.Join(dataDir, AdminTokenFile)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return path, nil
}
