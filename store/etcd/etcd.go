package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/mtlsgate/mtlsgate/store"
)

// Defaults for the zero Options fields. MaxRequestBytes and MaxTxnOps are
// etcd's own defaults for --max-request-bytes and --max-txn-ops.
const (
	DefaultPrefix          = "/mtlsgate/"
	DefaultDialTimeout     = 5 * time.Second
	DefaultRequestTimeout  = 10 * time.Second
	DefaultMaxRequestBytes = 1536 * 1024
	DefaultMaxTxnOps       = 128
)

// ErrTooLarge means a transaction exceeds what the cluster accepts
// (Options.MaxRequestBytes or Options.MaxTxnOps); nothing was sent. It
// wraps store.ErrLimit: the write is refused as over a limit.
var ErrTooLarge = fmt.Errorf("etcd: transaction too large for the cluster: %w", store.ErrLimit)

// Options configures Open.
type Options struct {
	// Endpoints are the cluster's client URLs, e.g.
	// "https://10.0.0.1:2379". At least one.
	Endpoints []string
	// TLS, when set, is the client's TLS configuration: the CA that
	// verifies the members and the client certificate they verify.
	TLS *tls.Config
	// Username and Password authenticate to etcd when its auth is on.
	Username, Password string
	// Prefix is put before every key (default DefaultPrefix).
	Prefix string
	// DialTimeout bounds connecting; RequestTimeout bounds every call
	// (Get, Range, Txn) on top of the caller's context.
	DialTimeout, RequestTimeout time.Duration
	// MaxRequestBytes and MaxTxnOps are the cluster's --max-request-bytes
	// and --max-txn-ops; larger transactions are refused with ErrTooLarge.
	MaxRequestBytes, MaxTxnOps int
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.MaxTxnOps <= 0 {
		o.MaxTxnOps = DefaultMaxTxnOps
	}
	return o
}

// Backend is a store.Backend on an etcd cluster. It is safe for concurrent
// use.
type Backend struct {
	o   Options
	cli *clientv3.Client

	// life guards closing: calls hold it for reading; Close takes it for
	// writing, so it waits for calls in flight, and sets closed.
	life   sync.RWMutex
	closed bool
	// stop ends every watch; watches counts their goroutines, which Close
	// waits for.
	stop    context.CancelFunc
	stopCtx context.Context
	watches sync.WaitGroup
}

var _ store.Backend = (*Backend)(nil)

// Open connects to the cluster and checks that it answers (one
// linearizable read under the prefix, which needs a quorum).
func Open(ctx context.Context, o Options) (*Backend, error) {
	o = o.withDefaults()
	if len(o.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: o.Endpoints, TLS: o.TLS, Username: o.Username, Password: o.Password,
		DialTimeout: o.DialTimeout, DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: 5 * time.Second,
		// Room for the largest request the cluster takes; responses
		// are unbounded (clientv3's default).
		MaxCallSendMsgSize: o.MaxRequestBytes + 64<<10,
		Logger:             zap.NewNop(), Context: context.WithoutCancel(ctx),
		// gRPC's default reconnect backoff grows to two minutes: after an
		// outage the replica would stay cut off long after the cluster is
		// back. A few seconds at most, with jitter.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: o.DialTimeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: connect to %v: %w", o.Endpoints, err)
	}
	b := &Backend{o: o, cli: cli}
	b.stopCtx, b.stop = context.WithCancel(context.Background())
	rctx, cancel := context.WithTimeout(ctx, o.DialTimeout+o.RequestTimeout)
	defer cancel()
	if _, err := cli.Get(rctx, o.Prefix, clientv3.WithCountOnly()); err != nil {
		b.stop()
		_ = cli.Close()
		return nil, fmt.Errorf("etcd: %v does not answer: %w", o.Endpoints, err)
	}
	return b, nil
}

// enter starts a call; it fails once the backend is closed.
func (b *Backend) enter() error {
	b.life.RLock()
	if b.closed {
		b.life.RUnlock()
		return store.ErrClosed
	}
	return nil
}

func (b *Backend) leave() { b.life.RUnlock() }

// Close ends every watch, waits for them and for calls in flight, and
// closes the connection. Later calls fail with store.ErrClosed.
func (b *Backend) Close() error {
	b.life.Lock()
	if b.closed {
		b.life.Unlock()
		return nil
	}
	b.closed = true
	b.life.Unlock()
	b.stop()
	b.watches.Wait()
	return b.cli.Close()
}

// Compact discards the revisions before rev from the cluster's history:
// watches from an older revision then fail with store.ErrCompacted. It
// waits for the compaction to be applied.
func (b *Backend) Compact(ctx context.Context, rev int64) error {
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	if _, err := b.cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		return fmt.Errorf("etcd: compact to %d: %w", rev, err)
	}
	return nil
}

// CompactHistory discards every revision before the current one, of the
// whole cluster (etcd compacts all keys, every prefix): old values of
// rewritten keys (a secret sealed again under a new key) leave the
// cluster's history. The members' WAL and snapshot files keep them until
// etcd purges those. etcd frees the space on disk at its next
// defragmentation (etcdctl defrag). It returns the revision kept.
func (b *Backend) CompactHistory(ctx context.Context) (int64, error) {
	_, rev, err := b.Range(ctx, store.Range{Start: "\x00", End: "\x00", Limit: 1})
	if err != nil {
		return 0, err
	}
	return rev, b.Compact(ctx, rev)
}
