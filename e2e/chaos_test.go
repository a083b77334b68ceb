package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestChaosEtcdMemberAndReplicaKilled: under a steady Check load on one
// replica and API writes through it, an etcd member is killed -9, then the
// other replica. The surviving replica fails no Check; every write it
// acknowledged is in the store (a write may be refused while the cluster
// elects a new leader, never half-done); the member and the replica
// rejoin and catch up.
func TestChaosEtcdMemberAndReplicaKilled(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Members: 3, TLS: true})
	dir := t.TempDir()
	args := etcdArgs(t, c, dir)
	a := serveArgs(t, filepath.Join(dir, "a"), args...)
	b := serveArgs(t, filepath.Join(dir, "b"), append(args, "--seal-key-file", filepath.Join(dir, "a", "seal.key"))...)
	writeFile(t, b.data, "admin.token", []byte(a.adminToken(t)+"\n"))

	root := testpki.NewRoot(t, "Chaos Client CA", testpki.Options{})
	alice, srv := root.Leaf(t, "alice", testpki.Options{}), root.Server(t, "app.example.com")
	caID := b.cli(t, "ca", "add", "--name", "chaos", writeFile(t, dir, "ca.pem", root.PEM()), "-o", "id")
	b.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	b.cli(t, "site", "assign", "app.example.com", caID)
	node := b.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"})
	check := checkAs(t, b, node)
	eventually(t, time.Second, "alice allowed", func() bool { return check(alice) })

	ctx, stop := context.WithCancel(context.Background())
	var checks, failed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				checks.Add(1)
				if !check(alice) {
					failed.Add(1)
				}
			}
		})
	}
	roots := make([][]byte, 400)
	for i := range roots {
		roots[i] = testpki.NewRoot(t, fmt.Sprint("Chaos Write ", i), testpki.Options{}).PEM()
	}
	api, auth := b.api(t), b.authCtx(t)
	acked := make(chan []string, 1)
	wg.Go(func() { acked <- writeUntil(ctx, api, auth, roots) })

	time.Sleep(time.Second)
	c.Members[0].Kill()
	time.Sleep(2 * time.Second)
	_ = a.cmd.Process.Kill()
	time.Sleep(3 * time.Second)
	stop()
	wg.Wait()
	ids := <-acked
	t.Logf("%d Checks, %d failed; %d writes acknowledged", checks.Load(), failed.Load(), len(ids))
	if failed.Load() != 0 {
		t.Errorf("%d of %d Checks on the surviving replica failed", failed.Load(), checks.Load())
	}
	if len(ids) == 0 {
		t.Error("no write was acknowledged during the chaos")
	}

	c.Members[0].Restart(t)
	a2 := serveArgs(t, a.data, args...)
	for _, in := range []*instance{b, a2} {
		eventually(t, 10*time.Second, "every acknowledged write on "+in.data, func() bool { return hasCAs(t, in, ids) })
	}
}

// writeUntil uploads the roots as client CAs through api, one at a time,
// until ctx ends or they run out, and returns the ids of those
// acknowledged.
func writeUntil(ctx context.Context, api pb.CertificateManagerServiceClient, auth context.Context, roots [][]byte) []string {
	var ids []string
	for i := 0; ctx.Err() == nil && i < len(roots); i++ {
		wctx, cancel := context.WithTimeout(auth, 5*time.Second)
		ca, err := api.CreateClientCA(wctx, &pb.CreateClientCARequest{Name: fmt.Sprint("chaos-", i), Bundle: roots[i]})
		cancel()
		if err == nil {
			ids = append(ids, ca.GetId())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ids
}

// hasCAs reports whether in's API lists every CA of ids.
func hasCAs(t *testing.T, in *instance, ids []string) bool {
	resp, err := in.api(t).ListClientCAs(in.authCtx(t), &pb.ListClientCAsRequest{})
	if err != nil {
		return false
	}
	have := map[string]bool{}
	for _, ca := range resp.GetCas() {
		have[ca.GetId()] = true
	}
	for _, id := range ids {
		if !have[id] {
			return false
		}
	}
	return true
}
