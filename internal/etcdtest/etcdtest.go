// Package etcdtest runs real etcd clusters for tests (internal/etcdproc
// processes with data in the test's temporary directory, stopped when the
// test ends). The binary is $ETCD_BIN, else bin/etcd at the module root
// (`make etcd` builds it at the version pinned in tools/go.mod), else etcd
// on PATH; a test that finds none is skipped with a message saying how to
// get one (.ci/run builds it, so CI never skips).
package etcdtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mtlsgate/mtlsgate/internal/etcdproc"
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

// Options shape a cluster: etcdproc's, without the binary and directory,
// which Start chooses.
type Options = etcdproc.Options

// Cluster is a running cluster; Start stops it when the test ends.
type Cluster struct {
	*etcdproc.Cluster
	// Members are the cluster's members, with test helpers.
	Members []*Member
}

// Member is one etcd process.
type Member struct{ *etcdproc.Member }

// Start starts a cluster and waits until it answers linearizable reads.
// It skips the test when there is no etcd binary.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	o.Bin = Binary()
	if o.Bin == "" {
		t.Skip("no etcd binary: run `make etcd` (builds bin/etcd at the pinned version), or set ETCD_BIN")
	}
	o.Dir = t.TempDir()
	pc, err := etcdproc.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pc.Stop)
	c := &Cluster{Cluster: pc}
	for _, m := range pc.Members {
		c.Members = append(c.Members, &Member{m})
	}
	return c
}

// Client returns a client of the cluster, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := c.Cluster.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// WaitReady waits until a linearizable read succeeds (a quorum is up).
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	if err := c.Cluster.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// Restart starts a killed member again with its data: it rejoins and
// catches up.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
}
