package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// runHelp runs the binary's --help and serve --help.
func runHelp(t *testing.T, bin string) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("mtlsgate %v: %v\n%s", args, err, out)
		}
		want := map[string]string{"--help": "serve", "serve": "-data"}[args[0]]
		if !strings.Contains(string(out), want) {
			t.Errorf("mtlsgate %v does not mention %q:\n%s", args, want, out)
		}
	}
}

// runVersion checks that the binary records the commit it was built from
// (go build -buildvcs=auto) when the source is a git checkout; skipped by a
// binary without the version command.
func runVersion(t *testing.T, bin string) {
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Skipf("mtlsgate version: %v (a binary without the command)", err)
	}
	var v struct{ Commit string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("mtlsgate version -o json: %v\n%s", err, out)
	}
	if exec.Command("git", "-C", "../..", "rev-parse", "HEAD").Run() != nil {
		t.Skip("not a git checkout: no commit to record")
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(v.Commit) {
		t.Errorf("the image's binary records no commit: %s", out)
	}
}

// imageEnv is the image's environment with the data directory (the volume)
// moved to data, and nothing of the test's own environment.
func imageEnv(c v1.Config, data string) []string {
	var env []string
	for _, kv := range c.Env {
		kv = strings.Replace(kv, "="+dataDir, "="+data, 1)
		env = append(env, kv)
	}
	return env
}

// runServe runs the image's command (entrypoint and cmd) with its
// environment, only the addresses moved to free loopback ports and the
// data to a temporary directory; checks /healthz and /readyz, that the CLI
// finds its token and CA through the image's environment, and that SIGTERM
// stops it cleanly.
func runServe(t *testing.T, bin string, c v1.Config) {
	data := t.TempDir()
	args := slices.Concat(c.Entrypoint[1:], c.Cmd, []string{
		"--admin-addr", "127.0.0.1:0", "--authz-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0"})
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = imageEnv(c, data), data
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	admin := make(chan string, 1)
	var log strings.Builder
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			var rec struct{ Msg, Admin string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "mtlsgate serving" {
				admin <- rec.Admin
			}
		}
	}()
	go func() { <-logged; done <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()
	var addr string
	select {
	case addr = <-admin:
	case err := <-done:
		t.Fatalf("serve exited before serving: %v\n%s", err, log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start within 30s")
	}
	client := tlsClient(t, filepath.Join(data, "ca.pem"))
	for _, p := range []string{"/healthz", "/readyz"} {
		if body := get(t, client, "https://"+addr+p); body != "ok\n" {
			t.Errorf("%s: %q", p, body)
		}
	}
	runCLI(t, bin, c, data, addr)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("serve did not stop within 30s of SIGTERM")
	}
}

// runCLI runs `mtlsgate site list` as `docker exec` would in the image:
// its environment names the token file and the data directory (ca.pem).
func runCLI(t *testing.T, bin string, c v1.Config, data, addr string) {
	cmd := exec.Command(bin, "--server", addr, "site", "list", "-o", "json")
	cmd.Env, cmd.Dir = imageEnv(c, data), data
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mtlsgate site list with the image's environment: %v\n%s", err, out)
	}
	var list struct{ Sites []any }
	if err := json.Unmarshal(out, &list); err != nil || len(list.Sites) != 0 {
		t.Errorf("site list on a new server: %q (%v)", out, err)
	}
}

// tlsClient trusts only the CA in caFile.
func tlsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	return &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s %s", url, resp.Status, body)
	}
	return string(body)
}
