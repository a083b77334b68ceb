package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
)

// TestBackupMovesBboltToEtcd: a backup taken from a running bbolt server
// with the CLI, restored with the server stopped into an etcd cluster, is
// the same installation on etcd: its sites and CAs, its admin token, its
// sealed private keys (under the same seal key) and its internal CA. A
// second restore into the same prefix is refused.
func TestBackupMovesBboltToEtcd(t *testing.T) {
	dir := t.TempDir()
	old := serve(t, filepath.Join(dir, "bbolt"))
	root := testpki.NewRoot(t, "Moved Client CA", testpki.Options{})
	alice, srv := root.Leaf(t, "alice", testpki.Options{}), root.Server(t, "app.example.com")
	caID := old.cli(t, "ca", "add", "--name", "moved", writeFile(t, dir, "ca.pem", root.PEM()), "-o", "id")
	old.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	old.cli(t, "site", "assign", "app.example.com", caID)
	file := filepath.Join(dir, "mtlsgate.backup")
	if out := old.cli(t, "backup", "--out", file); !strings.Contains(out, "wrote "+file) {
		t.Fatalf("backup: %s", out)
	}
	old.stop(t)

	c := etcdtest.Start(t, etcdtest.Options{TLS: true})
	args := etcdArgs(t, c, dir)
	restoreArgs := append([]string{"restore", "--in", file, "--data", filepath.Join(dir, "etcd")}, args[:2]...)
	if out, err := exec.Command(binary, restoreArgs...).CombinedOutput(); err != nil || !strings.Contains(string(out), "Restored") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if out, err := exec.Command(binary, restoreArgs...).CombinedOutput(); err == nil || !strings.Contains(string(out), "not empty") {
		t.Fatalf("a second restore into the same prefix: %v\n%s", err, out)
	}

	moved := serveArgs(t, filepath.Join(dir, "etcd"), append(args, "--seal-key-file", filepath.Join(dir, "bbolt", "seal.key"))...)
	writeFile(t, moved.data, "admin.token", []byte(old.adminToken(t)+"\n"))
	if out := moved.cli(t, "site", "show", "app.example.com", "-o", "json"); !strings.Contains(out, caID) {
		t.Fatalf("the moved site:\n%s", out)
	}
	node := moved.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"})
	check := checkAs(t, moved, node)
	eventually(t, 5*time.Second, "alice allowed on the moved installation", func() bool { return check(alice) })
	if old.caPool(t).Equal(moved.caPool(t)) == false {
		t.Error("the internal CA changed in the move")
	}
}
