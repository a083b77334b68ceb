// Package e2e tests the real mtlsgate binary from the outside: built with
// go build, started as a process, driven only through its CLI and API.
package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the mtlsgate built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mtlsgate-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mtlsgate")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-race", "-o", binary, "./cmd/mtlsgate")
	cmd.Dir = filepath.Dir(filepath.Dir(file))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building mtlsgate:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is a running `mtlsgate serve`.
type instance struct {
	cmd   *exec.Cmd
	admin string
	authz string
	xds   string
	data  string
	logs  *logBuffer
	done  chan error
}

// serve starts the binary on loopback ports with data in dataDir and
// waits until it says it is serving.
func serve(t *testing.T, dataDir string) *instance {
	t.Helper()
	return serveArgs(t, dataDir, "--admin-addr", "127.0.0.1:0", "--authz-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0")
}

// serveArgs starts the binary with data in dataDir and the given flags.
func serveArgs(t *testing.T, dataDir string, args ...string) *instance {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--data", dataDir}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{cmd: cmd, data: dataDir, logs: &logBuffer{}, done: make(chan error, 1)}
	ready := make(chan [3]string, 1)
	go in.logs.scan(stderr, ready)
	go func() { in.done <- cmd.Wait() }()
	t.Cleanup(func() { in.stop(t) })
	select {
	case addrs := <-ready:
		in.admin, in.authz, in.xds = addrs[0], addrs[1], addrs[2]
	case err := <-in.done:
		t.Fatalf("mtlsgate exited before serving: %v\n%s", err, in.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("mtlsgate did not start:\n%s", in.logs)
	}
	return in
}

// dump makes the server print its goroutines into its log and fails the
// test with the log: for diagnosing a hang.
func (in *instance) dump(t *testing.T, why string) {
	t.Helper()
	_ = in.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case err := <-in.done:
		in.done <- err
	case <-time.After(10 * time.Second):
	}
	time.Sleep(100 * time.Millisecond) // let the log scanner drain
	t.Fatalf("%s; server log and goroutines:\n%s", why, in.logs)
}

// stop sends SIGTERM and waits for a clean exit; a process that already
// exited (killed, dumped, stopped before) is left alone. The exit status
// stays in done for the next caller: reading cmd.ProcessState instead
// would race with the goroutine waiting for the process.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	if in.dumped() {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-in.done:
		in.done <- err
		if err != nil {
			t.Errorf("mtlsgate exited with %v after SIGTERM\n%s", err, in.logs)
		}
	case <-time.After(30 * time.Second):
		_ = in.cmd.Process.Kill()
		t.Errorf("mtlsgate did not stop after SIGTERM\n%s", in.logs)
	}
}

// dumped reports whether the process already exited (after a dump).
func (in *instance) dumped() bool {
	select {
	case err := <-in.done:
		in.done <- err
		return true
	default:
		return false
	}
}

// logBuffer keeps the server's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	all strings.Builder
}

func (l *logBuffer) scan(r io.Reader, ready chan<- [3]string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		l.mu.Lock()
		l.all.WriteString(line + "\n")
		l.mu.Unlock()
		var rec struct{ Msg, Admin, Authz, XDS string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "mtlsgate serving" {
			ready <- [3]string{rec.Admin, rec.Authz, rec.XDS}
		}
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}
