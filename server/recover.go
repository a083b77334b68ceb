package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/bolt"
)

// RecoverAdmin creates a new admin token directly in the store of dataDir
// and writes it to the admin token file, for an operator who has lost
// every admin token. It needs the server stopped: the store file is locked
// while it runs. The write is audited with actor "recovery".
func RecoverAdmin(ctx context.Context, dataDir string) (path string, err error) {
	b, err := bolt.Open(filepath.Join(dataDir, DBFile), bolt.Options{})
	if err != nil {
		return "", fmt.Errorf("%w (stop mtlsgate serve first)", err)
	}
	st, err := store.Open(ctx, b, store.Options{})
	if err != nil {
		_ = b.Close()
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
