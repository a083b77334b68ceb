// Package etcdproc runs real etcd clusters as child processes: one etcd
// process per member on loopback ports, its data and log under a
// directory the caller owns. The tests (internal/etcdtest) and the
// benchmark harness (bench/) start their clusters with it.
package etcdproc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Options shape a cluster.
type Options struct {
	// Bin is the etcd binary.
	Bin string
	// Dir holds every member's data and log, and the TLS files.
	Dir string
	// Members is the number of members (default 1).
	Members int
	// TLS serves clients over TLS and requires a client certificate
	// (Cluster.ClientTLS and the Cluster's files give one).
	TLS bool
	// MaxRequestBytes is --max-request-bytes (default etcd's, 1.5 MiB).
	MaxRequestBytes int
	// MaxTxnOps is --max-txn-ops (default etcd's, 128).
	MaxTxnOps int
	// Wrap prefixes each member's command line, e.g. taskset -c 1.
	Wrap []string
}

// Cluster is a running cluster.
type Cluster struct {
	Members []*Member
	// With Options.TLS: the PEM files of the CA that verifies the members
	// and of a client certificate and key they accept.
	CAFile, ClientCertFile, ClientKeyFile string
	tls                                   *tls.Config // the client's, when Options.TLS
}

// Member is one etcd process.
type Member struct {
	Name               string
	ClientURL, PeerURL string
	dir                string
	argv               []string
	cmd                *exec.Cmd
	exited             chan struct{}
}

// Start starts a cluster and waits until it answers linearizable reads
// (30 s at most). On error nothing is left running.
func Start(o Options) (*Cluster, error) {
	if o.Bin == "" {
		return nil, errors.New("etcdproc: no etcd binary")
	}
	o.Members = max(o.Members, 1)
	c := &Cluster{}
	scheme := "http"
	var certArgs []string
	if o.TLS {
		scheme = "https"
		var err error
		if certArgs, c.tls, err = writeTLS(o.Dir); err != nil {
			return nil, err
		}
		c.CAFile = filepath.Join(o.Dir, "ca.pem")
		c.ClientCertFile, c.ClientKeyFile = filepath.Join(o.Dir, "client.pem"), filepath.Join(o.Dir, "client-key.pem")
	}
	var initial []string
	for i := range o.Members {
		client, err := freePort()
		if err != nil {
			return nil, err
		}
		peer, err := freePort()
		if err != nil {
			return nil, err
		}
		m := &Member{Name: fmt.Sprintf("m%d", i), dir: filepath.Join(o.Dir, fmt.Sprintf("m%d", i)),
			ClientURL: scheme + "://127.0.0.1:" + client, PeerURL: "http://127.0.0.1:" + peer}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		m.argv = append(append(append([]string(nil), o.Wrap...), o.Bin), memberArgs(m, o, initial)...)
		m.argv = append(m.argv, certArgs...)
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			c.Stop()
			return nil, err
		}
		if err := m.Start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitReady(30 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// memberArgs are m's etcd flags.
func memberArgs(m *Member, o Options, initial []string) []string {
	return []string{"--name", m.Name, "--data-dir", filepath.Join(m.dir, "data"),
		"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
		"--initial-cluster-token", "mtlsgate-etcdproc", "--log-level", "warn",
		// Slower raft timing than etcd's default (100 ms / 1 s): test
		// machines run the race detector on two cores, and etcd's request
		// timeout (5 s + 2 × the election timeout) must hold a 32 MiB
		// write replicated to two followers.
		"--heartbeat-interval", "250", "--election-timeout", "2500",
		"--max-request-bytes", fmt.Sprint(orDefault(o.MaxRequestBytes, 1536*1024)),
		"--max-txn-ops", fmt.Sprint(orDefault(o.MaxTxnOps, 128))}
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, nil
}

// ClientTLS is the TLS configuration clients use (nil without TLS).
func (c *Cluster) ClientTLS() *tls.Config {
	if c.tls == nil {
		return nil
	}
	return c.tls.Clone()
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Client returns a new client of the cluster; the caller closes it.
func (c *Cluster) Client() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), TLS: c.ClientTLS(),
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

// WaitReady waits until a linearizable read succeeds (a quorum is up).
// Its error carries the end of every member's log.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	cli, err := c.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Get(ctx, "health-probe")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, m := range c.Members {
				fmt.Fprintf(&logs, "\n%s log:\n%s", m.Name, m.LogTail())
			}
			return fmt.Errorf("etcd cluster not ready after %s: %w%s", timeout, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills every member (their data stays on disk).
func (c *Cluster) Stop() {
	for _, m := range c.Members {
		m.Kill()
	}
}

// Start runs the member's process (again, after Kill: it rejoins with
// its data and catches up), its output appended to its log.
func (m *Member) Start() error {
	log, err := os.OpenFile(filepath.Join(m.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(m.argv[0], m.argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	// Do not outlive the process that started it, even when that one is
	// killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start etcd %s: %w", m.Name, err)
	}
	exited := make(chan struct{})
	m.cmd, m.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return nil
}

// PID is the member's process id (0 when it is not running).
func (m *Member) PID() int {
	if m.cmd == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Kill stops the member at once (SIGKILL) and waits for the process to
// end. Its data stays: Start brings it back.
func (m *Member) Kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
	m.cmd = nil
}

// LogTail returns the end of the member's log.
func (m *Member) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "etcd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
