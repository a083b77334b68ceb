package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mtlsgate/mtlsgate/store"
)

// Watch sends one response per revision that changed a key under prefix
// after rev, in order. The channel is closed when ctx ends, the backend
// closes (after a response with store.ErrClosed when the consumer is
// reading) or the watch fails (after a response with its error:
// store.ErrCompacted when rev is older than the cluster keeps; another
// error when the member lost its leader or the connection).
func (b *Backend) Watch(ctx context.Context, prefix string, rev int64) <-chan store.WatchResponse {
	ch := make(chan store.WatchResponse)
	if err := b.enter(); err != nil {
		go func() {
			defer close(ch)
			select {
			case ch <- store.WatchResponse{Err: err}:
			case <-ctx.Done():
			}
		}()
		return ch
	}
	b.watches.Add(1)
	b.leave()
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	stop := context.AfterFunc(b.stopCtx, cancel)
	events := b.cli.Watch(wctx, b.o.Prefix+prefix, clientv3.WithPrefix(), clientv3.WithRev(max(rev, 0)+1),
		clientv3.WithProgressNotify())
	go func() {
		defer b.watches.Done()
		defer close(ch)
		defer stop()
		defer cancel()
		b.relay(ctx, events, ch)
	}()
	return ch
}

// relay turns etcd's watch responses into the store's until one fails.
func (b *Backend) relay(ctx context.Context, events clientv3.WatchChan, ch chan<- store.WatchResponse) {
	for resp := range events {
		if err := b.watchErr(resp); err != nil {
			b.send(ctx, ch, store.WatchResponse{Err: err})
			return
		}
		for _, r := range b.split(resp.Events) {
			if !b.send(ctx, ch, r) {
				return
			}
		}
	}
	if b.stopCtx.Err() != nil {
		// Closed: tell a consumer that is reading; never wait for one
		// that is not (Close waits for this goroutine).
		select {
		case ch <- store.WatchResponse{Err: store.ErrClosed}:
		default:
		}
	}
}

// watchErr is why a watch response ends the watch, or nil.
func (b *Backend) watchErr(resp clientv3.WatchResponse) error {
	switch err := resp.Err(); {
	case resp.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("etcd: watch from a revision before %d: %w", resp.CompactRevision, store.ErrCompacted)
	case err != nil:
		return fmt.Errorf("etcd: watch: %w", err)
	case resp.Canceled:
		return errors.New("etcd: watch canceled by the cluster")
	}
	return nil
}

// split groups events by the revision that made them: one response each.
func (b *Backend) split(events []*clientv3.Event) []store.WatchResponse {
	var out []store.WatchResponse
	for _, ev := range events {
		rev := ev.Kv.ModRevision
		if len(out) == 0 || out[len(out)-1].Rev != rev {
			out = append(out, store.WatchResponse{Rev: rev})
		}
		e := store.Event{KV: b.kvOf(ev.Kv), Delete: ev.Type == mvccpb.DELETE}
		if e.Delete {
			e.Value = nil
		}
		last := &out[len(out)-1]
		last.Events = append(last.Events, e)
	}
	return out
}

// send delivers r unless ctx ends or the backend closes first.
func (b *Backend) send(ctx context.Context, ch chan<- store.WatchResponse, r store.WatchResponse) bool {
	select {
	case ch <- r:
		return true
	case <-ctx.Done():
		return false
	case <-b.stopCtx.Done():
		return false
	}
}
