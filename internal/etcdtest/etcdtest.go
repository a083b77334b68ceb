// Package etcdtest runs real etcd clusters for tests: one etcd process per
// member, on loopback ports, with data in the test's temporary directory.
// The binary is $ETCD_BIN, else bin/etcd at the module root (`make etcd`
// builds it at the version pinned in tools/go.mod), else etcd on PATH; a
// test that finds none is skipped with a message saying how to get one
// (.ci/run builds it, so CI never skips).
package etcdtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// Binary returns the path of the etcd binary, or "" when there is none.
func Binary() string {
	if p := os.Getenv("ETCD_BIN"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	if p := filepath.Join(filepath.Dir(file), "..", "..", "bin", "etcd"); isFile(p) {
		return p
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p
	}
	return ""
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Options shape a cluster.
type Options struct {
	// Members is the number of members (default 1).
	Members int
	// TLS serves clients over TLS and requires a client certificate
	// (Cluster.ClientTLS gives one).
	TLS bool
	// MaxRequestBytes is --max-request-bytes (default etcd's, 1.5 MiB).
	MaxRequestBytes int
	// MaxTxnOps is --max-txn-ops (default etcd's, 128).
	MaxTxnOps int
}

// Cluster is a running cluster; Start stops it when the test ends.
type Cluster struct {
	Members []*Member
	// With Options.TLS: the PEM files of the CA that verifies the members
	// and of a client certificate and key they accept.
	CAFile, ClientCertFile, ClientKeyFile string
	o                                     Options
	tls                                   *tls.Config // the client's, when Options.TLS
}

// Member is one etcd process.
type Member struct {
	Name               string
	ClientURL, PeerURL string
	dir, bin           string
	args               []string
	cmd                *exec.Cmd
	exited             chan struct{}
}

// Start starts a cluster and waits until it answers linearizable reads.
// It skips the test when there is no etcd binary.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("no etcd binary: run `make etcd` (builds bin/etcd at the pinned version), or set ETCD_BIN")
	}
	if o.Members <= 0 {
		o.Members = 1
	}
	c := &Cluster{o: o}
	dir := t.TempDir()
	scheme := "http"
	var certArgs []string
	if o.TLS {
		scheme = "https"
		certArgs, c.tls = writeTLS(t, dir)
		c.CAFile = filepath.Join(dir, "ca.pem")
		c.ClientCertFile, c.ClientKeyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	}
	var initial []string
	for i := range o.Members {
		m := &Member{Name: fmt.Sprintf("m%d", i), bin: bin, dir: filepath.Join(dir, fmt.Sprintf("m%d", i)),
			ClientURL: scheme + "://127.0.0.1:" + freePort(t), PeerURL: "http://127.0.0.1:" + freePort(t)}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		m.args = append([]string{"--name", m.Name, "--data-dir", filepath.Join(m.dir, "data"),
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "mtlsgate-test", "--log-level", "warn",
			// Slower raft timing than etcd's default (100 ms / 1 s): test
			// machines run the race detector on two cores, and etcd's
			// request timeout (5 s + 2 × the election timeout) must hold a
			// 32 MiB write replicated to two followers.
			"--heartbeat-interval", "250", "--election-timeout", "2500",
			"--max-request-bytes", fmt.Sprint(orDefault(o.MaxRequestBytes, 1536*1024)),
			"--max-txn-ops", fmt.Sprint(orDefault(o.MaxTxnOps, 128))}, certArgs...)
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		m.start(t)
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			m.Kill()
		}
	})
	c.WaitReady(t)
	return c
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// writeTLS makes a CA, a certificate for the members (server and client:
// members dial each other's clients when proxying) and one for clients;
// it returns the members' flags and the client's TLS configuration.
func writeTLS(t testing.TB, dir string) ([]string, *tls.Config) {
	t.Helper()
	ca := testpki.NewRoot(t, "etcd test CA", testpki.Options{})
	member := ca.Leaf(t, "etcd member", testpki.Options{IPs: []string{"127.0.0.1"}, DNS: []string{"localhost"},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	client := ca.Leaf(t, "mtlsgate", testpki.Options{})
	files := map[string][]byte{"ca.pem": ca.PEM(), "member.pem": member.PEM(), "member-key.pem": member.KeyPEM(),
		"client.pem": client.PEM(), "client-key.pem": client.KeyPEM()}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cert := tls.Certificate{Certificate: [][]byte{client.Cert.Raw}, PrivateKey: client.Key, Leaf: client.Cert}
	return []string{"--client-cert-auth", "--trusted-ca-file", filepath.Join(dir, "ca.pem"),
			"--cert-file", filepath.Join(dir, "member.pem"), "--key-file", filepath.Join(dir, "member-key.pem")},
		&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
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

// Client returns a client of the cluster, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), TLS: c.ClientTLS(),
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// WaitReady waits until a linearizable read succeeds (a quorum is up).
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	cli := c.Client(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Get(ctx, "health-probe")
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			for _, m := range c.Members {
				t.Logf("%s log:\n%s", m.Name, m.logTail())
			}
			t.Fatalf("etcd cluster not ready after 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// start runs the member's process, its output in its directory.
func (m *Member) start(t testing.TB) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(m.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	m.cmd = exec.Command(m.bin, m.args...)
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start etcd %s: %v", m.Name, err)
	}
	m.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(m.cmd, m.exited)
}

// Kill stops the member at once (SIGKILL) and waits for the process to
// end. Its data stays: Restart brings it back.
func (m *Member) Kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
	m.cmd = nil
}

// Restart starts a killed member again with its data: it rejoins and
// catches up.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	m.start(t)
}

// logTail returns the end of the member's log.
func (m *Member) logTail() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "etcd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
