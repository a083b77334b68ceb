package etcd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/mtlsgate/mtlsgate/store"
)

var _ store.Leader = (*Backend)(nil)

// LeaseTTL is the lifetime, in seconds, of the lease behind a leadership:
// a leader cut off from the cluster loses it (and stops its work) within
// that time, and another replica can be elected after it.
const LeaseTTL = 10

// electionSuffix names where elections live: beside the backend's prefix,
// not under it ("/mtlsgate/" → "/mtlsgate.election/"), so that no read of
// the store's keys (a reload, a backup) ever sees an election's key, and a
// restore cannot write one back (a key left by a lease that no longer
// exists would block every later campaign).
const electionSuffix = ".election/"

// electionKey is the election prefix of name.
func (b *Backend) electionKey(name string) string {
	return strings.TrimSuffix(b.o.Prefix, "/") + electionSuffix + name
}

// Lead campaigns for name under the backend's prefix (concurrency.Election
// on a session with a LeaseTTL-second lease) and runs fn while this process
// leads. fn's context ends when the session ends (its lease could not be
// kept alive: cut off from the quorum) or ctx ends; leadership is then
// resigned, and the campaign starts again after a pause, until ctx ends.
func (b *Backend) Lead(ctx context.Context, name string, fn func(ctx context.Context)) {
	for ctx.Err() == nil {
		if err := b.leadOnce(ctx, name, fn); err != nil && ctx.Err() == nil {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
}

// leadOnce is one campaign and, when won, one term.
func (b *Backend) leadOnce(ctx context.Context, name string, fn func(ctx context.Context)) error {
	if err := b.enter(); err != nil {
		<-ctx.Done()
		return err
	}
	b.leave()
	sess, err := concurrency.NewSession(b.cli, concurrency.WithTTL(LeaseTTL), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("etcd: session for election %s: %w", name, err)
	}
	defer sess.Close()
	e := concurrency.NewElection(sess, b.electionKey(name))
	if err := e.Campaign(ctx, candidate()); err != nil {
		return fmt.Errorf("etcd: campaign %s: %w", name, err)
	}
	term, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(b.stopCtx, cancel)
	defer stop()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-sess.Done():
			cancel()
		case <-term.Done():
		}
	}()
	fn(term)
	cancel()
	<-watched
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), b.o.RequestTimeout)
	defer rcancel()
	_ = e.Resign(rctx) // best effort: the lease expires anyway
	return nil
}

// candidate names this process in the election's value, for operators
// reading it with etcdctl.
func candidate() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}
