//go:build unix

package bolt

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/store"
)

// The crash test re-executes the test binary as a child process selected by
// these environment variables.
const (
	childModeEnv = "MTLSGATE_BOLT_TEST_CHILD" // "writer" or "lock"
	childPathEnv = "MTLSGATE_BOLT_TEST_PATH"
)

// Keys of the invariant: every transaction sets all of them to its number,
// so they must always be equal. They are far apart and padded so that they
// live on different pages.
var invariantKeys = []string{"a/inv", "m/inv", "z/inv"}

const invariantPad = 1500

// childCommand returns the command that runs test name of this binary in
// the given child mode on the data file at path.
func childCommand(name, mode, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), childModeEnv+"="+mode, childPathEnv+"="+path)
	return cmd
}

func numKey(n int64) string { return fmt.Sprintf("n/%010d", n) }

func invariantValue(n int64) []byte {
	return append([]byte(strconv.FormatInt(n, 10)+":"), bytes.Repeat([]byte{'.'}, invariantPad)...)
}

// TestCrashWriterChild is the child process of TestCrash: it commits
// numbered transactions until killed, printing each number once its Txn
// has returned.
func TestCrashWriterChild(t *testing.T) {
	if os.Getenv(childModeEnv) != "writer" {
		t.Skip("child process of TestCrash")
	}
	b, err := Open(os.Getenv(childPathEnv), Options{LockTimeout: 5 * time.Second})
	if err != nil {
		childFail("open: %v", err)
	}
	_, rev, err := b.Range(t.Context(), store.Range{Limit: 1})
	if err != nil {
		childFail("range: %v", err)
	}
	for n := rev + 1; n <= rev+1_000_000; n++ {
		got, err := b.Txn(t.Context(), nil, crashOps(n))
		if err != nil || got != n {
			childFail("txn %d: revision %d, error %v", n, got, err)
		}
		fmt.Printf("committed %d\n", n)
	}
	childFail("was not killed")
}

// crashOps returns the ops of transaction n: its own key, a key rewritten
// by every transaction, and the invariant keys.
func crashOps(n int64) []store.Op {
	v := []byte(strconv.FormatInt(n, 10))
	ops := []store.Op{{Key: numKey(n), Value: v}, {Key: "last", Value: v}}
	for _, k := range invariantKeys {
		ops = append(ops, store.Op{Key: k, Value: invariantValue(n)})
	}
	return ops
}

func childFail(format string, args ...any) {
	fmt.Printf("error "+format+"\n", args...)
	os.Exit(2)
}

// TestCrash kills a writing child process at random points and checks that
// the file then holds exactly a prefix of the transactions, including every
// one the child reported committed.
func TestCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	var reported int64
	for round := range 5 {
		killAfter := 5 + rng.IntN(100)
		delay := time.Duration(rng.IntN(3000)) * time.Microsecond
		last := runAndKill(t, path, killAfter, delay)
		if last < reported+int64(killAfter) {
			t.Fatalf("round %d: child reported up to %d, want at least %d", round, last, reported+int64(killAfter))
		}
		reported = last
		rev := verifyCrashFile(t, path)
		t.Logf("round %d: killed after %d commits + %v: reported %d, file at %d", round, killAfter, delay, reported, rev)
		if rev < reported {
			t.Fatalf("round %d: file at revision %d, but the child reported %d committed", round, rev, reported)
		}
	}
}

// runAndKill runs the writer child, SIGKILLs it delay after it reported
// killAfter commits, and returns the last number it reported.
func runAndKill(t *testing.T, path string, killAfter int, delay time.Duration) int64 {
	t.Helper()
	cmd := childCommand("TestCrashWriterChild", "writer", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() {
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Errorf("kill child: %v", err)
		}
	}
	last, seen, other := readCommits(t, out, killAfter, kill)
	err = cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not SIGKILL, after %d commits; other output %q; stderr %s",
			err, seen, other, stderr.String())
	}
	return last
}

// readCommits reads the child's output to its end, calling kill once it has
// seen killAfter commits. It returns the last number committed, how many
// commits it saw and the other lines.
func readCommits(t *testing.T, out io.Reader, killAfter int, kill func()) (last int64, seen int, other []string) {
	t.Helper()
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		n, ok := strings.CutPrefix(lines.Text(), "committed ")
		if !ok {
			other = append(other, lines.Text())
			continue
		}
		var err error
		if last, err = strconv.ParseInt(n, 10, 64); err != nil {
			t.Errorf("child output %q: %v", lines.Text(), err)
		}
		if seen++; seen == killAfter {
			kill()
		}
	}
	return last, seen, other
}

// verifyCrashFile opens the file and checks that it holds transactions 1
// to its revision, whole, and returns the revision.
func verifyCrashFile(t *testing.T, path string) int64 {
	t.Helper()
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	defer b.Close()
	nums, rev, err := b.Range(t.Context(), store.Prefix("n/"))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(nums)) != rev {
		t.Fatalf("revision %d, but %d numbered transactions in the file", rev, len(nums))
	}
	for i, kv := range nums {
		n := int64(i) + 1
		if kv.Key != numKey(n) || string(kv.Value) != strconv.FormatInt(n, 10) || kv.ModRev != n {
			t.Fatalf("numbered key %d is %q=%q@%d", n, kv.Key, kv.Value, kv.ModRev)
		}
	}
	checkInvariant(t, b, rev)
	return rev
}

// checkInvariant checks that the keys every transaction writes all hold the
// value of the last one, rev.
func checkInvariant(t *testing.T, b *Backend, rev int64) {
	t.Helper()
	for _, k := range append([]string{"last"}, invariantKeys...) {
		kv, ok, err := b.Get(t.Context(), k)
		if err != nil || !ok {
			t.Fatalf("Get(%q): ok %v, error %v", k, ok, err)
		}
		want := invariantValue(rev)
		if k == "last" {
			want = []byte(strconv.FormatInt(rev, 10))
		}
		if !bytes.Equal(kv.Value, want) || kv.ModRev != rev {
			t.Fatalf("%s = %.20q@%d, want %.20q@%d: transaction partly visible", k, kv.Value, kv.ModRev, want, rev)
		}
	}
}

// TestLockChild is the child process of TestLockedByAnotherProcess: it
// tries to open the file and prints the result.
func TestLockChild(t *testing.T) {
	if os.Getenv(childModeEnv) != "lock" {
		t.Skip("child process of TestLockedByAnotherProcess")
	}
	b, err := Open(os.Getenv(childPathEnv), Options{LockTimeout: 200 * time.Millisecond})
	if err != nil {
		fmt.Printf("open error: %v\n", err)
		return
	}
	fmt.Println("opened")
	_ = b.Close()
}

func TestLockedByAnotherProcess(t *testing.T) {
	_, path := openTemp(t, Options{})
	start := time.Now()
	out, err := childCommand("TestLockChild", "lock", path).Output()
	if err != nil {
		t.Fatalf("child: %v, output %s", err, out)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("child took %v to give up on the lock", elapsed)
	}
	wantInUse(t, string(out), path)
}
