// Package harness starts the processes a benchmark measures (the real
// mtlsgate binary, the no-op Check server), optionally pinned to CPUs, and
// talks to mtlsgate's Certificate Manager API.
package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Proc is a started process whose stderr goes to a log file.
type Proc struct {
	Cmd  *exec.Cmd
	Log  string
	done chan struct{} // closed on exit
	err  error         // the exit status, once done
}

// PID is the process id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Taskset is the path of taskset(1), or "" when it is not installed.
var Taskset, _ = exec.LookPath("taskset")

// Start runs argv with extra environment, pinned to cpus ("" for no
// pinning; taskset(1) when installed), stdout and stderr to logPath.
func Start(argv []string, env []string, cpus, logPath string) (*Proc, error) {
	if cpus != "" && Taskset != "" {
		argv = append([]string{Taskset, "-c", cpus}, argv...)
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Do not outlive the harness, even when it is interrupted.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// WaitLog waits until the log has a line containing marker and returns it.
func (p *Proc) WaitLog(marker string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return "", fmt.Errorf("%s exited (%v); log %s:\n%s", filepath.Base(p.Cmd.Path), p.err, p.Log, tail(p.Log))
		default:
		}
		if b, err := os.ReadFile(p.Log); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if strings.Contains(sc.Text(), marker) {
					return sc.Text(), nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("no %q in %s after %s:\n%s", marker, p.Log, timeout, tail(p.Log))
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits (killing it after timeout). Stopping a
// stopped process returns its exit status again.
func (p *Proc) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return errors.New("killed after timeout")
	}
}

// Serving is what `mtlsgate serve` logs once its listeners are bound.
type Serving struct {
	Admin string `json:"admin"`
	Authz string `json:"authz"`
	XDS   string `json:"xds"`
	Data  string `json:"data"`
}

// StartMtlsgate starts argv (`mtlsgate serve ...` or an equivalent) and
// waits until it serves.
func StartMtlsgate(argv, env []string, cpus, logPath string) (*Proc, Serving, error) {
	p, err := Start(argv, env, cpus, logPath)
	if err != nil {
		return nil, Serving{}, err
	}
	line, err := p.WaitLog(`"msg":"mtlsgate serving"`, 60*time.Second)
	if err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, Serving{}, err
	}
	var s Serving
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, Serving{}, fmt.Errorf("serving line %q: %w", line, err)
	}
	return p, s, nil
}

// PinSelf pins the calling process (every thread created from now on, and
// the current ones) to cpus, e.g. "0" or "0,1". It is best effort: it
// returns an error when the affinity cannot be set.
func PinSelf(cpus string) error {
	var set [16]uint64
	for _, part := range strings.Split(cpus, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 0 || n >= 1024 {
			return fmt.Errorf("bad cpu list %q", cpus)
		}
		set[n/64] |= 1 << (n % 64)
	}
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tids {
		tid, _ := strconv.Atoi(t.Name())
		if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(set), uintptr(unsafe.Pointer(&set))); e != 0 {
			return e
		}
	}
	return nil
}
