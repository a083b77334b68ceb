package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/seal"
)

// TestKeysRotateWithTheBinary follows docs/operations.md "Rotating the
// key" with the real binary: the store file never holds the site's key,
// rotation runs with the server stopped, and a server given the retired key
// refuses to start, naming the key it lacks.
func TestKeysRotateWithTheBinary(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	in := serve(t, data)
	srv := testpki.NewRoot(t, "E2E Server CA", testpki.Options{}).Server(t, "app.example.com")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080")
	keys := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append([]string{"keys"}, append(args, "--data", data)...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := keys("rotate"); err == nil || !strings.Contains(out, "in use") {
		t.Fatalf("keys rotate on a running server: %v\n%s", err, out)
	}
	in.stop(t)

	keyFile := filepath.Join(data, "seal.key")
	old, err := seal.LoadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(data, "mtlsgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	keyLine := strings.Split(string(srv.KeyPEM()), "\n")[1]
	if bytes.Contains(db, []byte(keyLine)) {
		t.Fatal("the store file holds the site's private key")
	}
	// Two sealed values: the site's key and the internal CA's.
	if out, err := keys("rotate"); err != nil || !strings.Contains(out, "sealed 2 values") {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	now, err := seal.LoadFile(keyFile)
	if err != nil || len(now.IDs()) != 1 || now.Primary() == old.Primary() {
		t.Fatalf("key file after rotation: %v, %v", now, err)
	}
	if out, err := keys("status"); err != nil || !strings.Contains(out, now.Primary()) || strings.Contains(out, old.Primary()) {
		t.Fatalf("keys status: %v\n%s", err, out)
	}

	in = serve(t, data)
	if out := in.cli(t, "site", "list"); !strings.Contains(out, "app.example.com") {
		t.Fatalf("site lost in the rotation:\n%s", out)
	}
	in.stop(t)

	if err := seal.WriteFile(keyFile, old); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "serve", "--data", data, "--admin-addr", "127.0.0.1:0",
		"--authz-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0").CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), now.Primary()) {
		t.Fatalf("serve with the retired key: %v\n%s", err, out)
	}
}
