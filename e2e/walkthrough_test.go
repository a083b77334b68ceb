package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// readmeWalkthrough returns the shell block between the walkthrough
// markers of README.md.
func readmeWalkthrough(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(readmeDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- walkthrough -->")
	block, _, ok2 := strings.Cut(rest, "<!-- /walkthrough -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no walkthrough markers")
	}
	block = strings.TrimSpace(block)
	block = strings.TrimPrefix(block, "```sh")
	return strings.TrimSuffix(block, "```")
}

// readmeDir is the repository root, where README.md is.
func readmeDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// TestReadmeWalkthrough runs the README's walk-through, as written, against
// the real binary: a user following it gets what it says. Then it starts
// over the way the README says (server stopped, rm -rf data demo, server
// started) and runs it again.
func TestReadmeWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed (.ci/run installs it): the walk-through makes its certificates with it")
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binary, filepath.Join(root, "bin", "mtlsgate")); err != nil {
		t.Fatal(err)
	}
	in := serve(t, filepath.Join(root, "data"))
	runWalkthrough(t, root, in.admin)

	const startOver = "rm -rf data demo"
	if b, _ := os.ReadFile(filepath.Join(readmeDir(t), "README.md")); !strings.Contains(string(b), startOver+" && make run") {
		t.Fatalf("the README no longer says how to start over with %q", startOver)
	}
	in.stop(t)
	if out, err := exec.Command("bash", "-c", "cd "+root+" && "+startOver).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", startOver, err, out)
	}
	in = serve(t, filepath.Join(root, "data"))
	runWalkthrough(t, root, in.admin)
}

// runWalkthrough runs the walk-through in root against the server at admin
// and checks what it printed.
func runWalkthrough(t *testing.T, root, admin string) {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", readmeWalkthrough(t))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "MTLSGATE_SERVER="+admin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("walk-through failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"app.example.com  enforce", // site list after site set
		"Secret:  in viewer.token", // the viewer's token, kept off the terminal
		"refused, as it should be", // the viewer's write
		"permission_denied",        // ... in the audit log
		"DeleteSite",               // ... as the action refused
	} {
		if !strings.Contains(out, want) {
			t.Errorf("walk-through output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "mtlsgate: permission denied") {
		t.Errorf("the viewer's refusal should be one clear line on stderr:\n%s", stderr.String())
	}
}

// TestRecoverAdmin: with every admin token lost, an operator stops the
// server and writes a new one; it is refused while the server runs.
func TestRecoverAdmin(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	in := serve(t, data)
	out, err := exec.Command(binary, "recover-admin", "--data", data).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("recover-admin on a running server: %v\n%s", err, out)
	}
	old, _ := os.ReadFile(filepath.Join(data, "admin.token"))
	in.stop(t)
	out, err = exec.Command(binary, "recover-admin", "--data", data).CombinedOutput()
	if err != nil {
		t.Fatalf("recover-admin: %v\n%s", err, out)
	}
	tok, _ := os.ReadFile(filepath.Join(data, "admin.token"))
	if bytes.Equal(tok, old) || !bytes.HasPrefix(tok, []byte("mtg.")) {
		t.Fatalf("no new token written: %q", tok)
	}
	in = serve(t, data)
	cmd := exec.Command(binary, "--server", in.admin, "--token-file", filepath.Join(data, "admin.token"), "token", "list")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "recovered-admin") {
		t.Fatalf("the recovered token does not work: %v\n%s", err, out)
	}
}
