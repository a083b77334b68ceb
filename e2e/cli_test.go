package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// run runs the CLI and returns its output and exit code.
func (in *instance) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	full := append([]string{"--server", in.admin, "--token-file", filepath.Join(in.data, "admin.token")}, args...)
	out, err := exec.Command(binary, full...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out)), code
}

// TestCLIAgainstTheServer runs the commands the README walk-through does
// not, against the real server, and checks each did what it says.
func TestCLIAgainstTheServer(t *testing.T) {
	dir := t.TempDir()
	in := serve(t, filepath.Join(dir, "data"))
	root := testpki.NewRoot(t, "CLI Root", testpki.Options{})
	srv := root.Server(t, "cli.example.com")
	caID := in.cli(t, "ca", "add", "--name", "cli", writeFile(t, dir, "ca.pem", root.PEM()), "-o", "id")
	in.cli(t, "site", "put", "cli.example.com", "--cert", writeFile(t, dir, "s.pem", srv.PEM()),
		"--key", writeFile(t, dir, "s.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080")

	steps := []struct {
		args []string
		code int
		want string // in the output
	}{
		{[]string{"ca", "assign", caID, "cli.example.com"}, 0, "cli.example.com"},
		{[]string{"ca", "show", caID}, 0, "CN=CLI Root"},
		{[]string{"ca", "rm", caID}, 1, "assigned"},
		{[]string{"site", "unassign", "cli.example.com", caID}, 0, "cli.example.com"},
		{[]string{"site", "settings", "cli.example.com"}, 0, "disabled"},
		{[]string{"site", "set", "cli.example.com", "mode=permissive", "pins=" + strings.Repeat("ab", 32) + "=svc", "headers.subject=x-ssl-subject"}, 0, "x-ssl-subject"},
		{[]string{"site", "set", "cli.example.com", "mode=loud"}, 2, "mode"},
		{[]string{"site", "put", "cli.example.com", "--origin", "https://10.0.0.9"}, 0, "https://10.0.0.9"},
		{[]string{"crl", "add", writeFile(t, dir, "c.crl", root.CRL(t, 1, time.Now(), time.Now().Add(time.Hour)))}, 0, "CN=CLI Root"},
		{[]string{"crl", "list"}, 0, "CN=CLI Root"},
		{[]string{"token", "list"}, 0, "bootstrap-admin"},
		{[]string{"audit", "--limit", "3"}, 0, "ok"},
		{[]string{"site", "show", "nope.example.com"}, 1, "not found"},
		{[]string{"ca", "rm", caID}, 0, ""},
		{[]string{"crl", "list"}, 0, ""},
		{[]string{"site", "rm", "cli.example.com"}, 0, ""},
		{[]string{"site", "list", "-o", "id"}, 0, ""},
	}
	for _, s := range steps {
		out, code := in.run(t, s.args...)
		if code != s.code || !strings.Contains(out, s.want) {
			t.Fatalf("mtlsgate %s: exit %d, output:\n%s\nwant exit %d mentioning %q", strings.Join(s.args, " "), code, out, s.code, s.want)
		}
		if code != 0 && strings.Count(out, "\n") > 0 && s.code == 1 {
			t.Errorf("mtlsgate %s: an error should be one line:\n%s", strings.Join(s.args, " "), out)
		}
	}
	// The forced-free CA took its CRL with it, and the last list is empty.
	if out, _ := in.run(t, "crl", "list", "-o", "id"); out != "" {
		t.Fatalf("CRL survived its CA: %q", out)
	}
	// A site-manager token: listed without its secret, revocable.
	in.cli(t, "site", "put", "cli.example.com", "--cert", filepath.Join(dir, "s.pem"), "--key", filepath.Join(dir, "s.key"), "--origin", "http://127.0.0.1:8080")
	secretFile := filepath.Join(dir, "team.token")
	id := in.cli(t, "token", "create", "--role", "site-manager", "--site", "cli.example.com", "--name", "team",
		"--secret-file", secretFile, "-o", "id")
	b, err := os.ReadFile(secretFile)
	secret := strings.TrimSpace(string(b))
	if parts := strings.Split(secret, "."); err != nil || len(parts) < 2 || parts[1] != id {
		t.Fatalf("token create -o id printed %q; the secret file holds %q (%v)", id, secret, err)
	}
	if out := in.cli(t, "token", "list", "-o", "json"); !strings.Contains(out, id) || strings.Contains(out, "secret") {
		t.Fatalf("token list: %s", out)
	}
	if out, code := in.run(t, "token", "revoke", id); code != 0 || !strings.Contains(out, id) {
		t.Fatalf("revoke: %s", out)
	}
	if out, code := in.run(t, "--token", secret, "site", "list"); code != 1 || !strings.Contains(out, "unauthenticated") {
		t.Fatalf("a revoked token still works: %d %s", code, out)
	}
}
