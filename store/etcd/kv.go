package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mtlsgate/mtlsgate/store"
)

// call runs fn with the request timeout, unless the backend is closed.
func (b *Backend) call(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	ctx, cancel := context.WithTimeout(ctx, b.o.RequestTimeout)
	defer cancel()
	return fn(ctx)
}

// kvOf turns an etcd key-value under the prefix into the store's.
func (b *Backend) kvOf(kv *mvccpb.KeyValue) store.KV {
	v := kv.Value
	if v == nil {
		v = []byte{} // present, empty: not absent
	}
	return store.KV{Key: string(kv.Key[len(b.o.Prefix):]), Value: v, ModRev: kv.ModRevision}
}

// Get returns the value of key; ok is false when it is absent.
func (b *Backend) Get(ctx context.Context, key string) (kv store.KV, ok bool, err error) {
	err = b.call(ctx, func(ctx context.Context) error {
		resp, err := b.cli.Get(ctx, b.o.Prefix+key)
		if err != nil {
			return err
		}
		if len(resp.Kvs) > 0 {
			kv, ok = b.kvOf(resp.Kvs[0]), true
		}
		return nil
	})
	if err != nil {
		return store.KV{}, false, fmt.Errorf("etcd: get %q: %w", key, err)
	}
	return kv, ok, nil
}

// Range returns the keys in r, sorted as r asks, and the revision it read
// at.
func (b *Backend) Range(ctx context.Context, r store.Range) (kvs []store.KV, rev int64, err error) {
	start, end := b.o.Prefix+r.Start, b.o.Prefix+r.End
	if r.End == "" {
		end = store.PrefixEnd(b.o.Prefix)
	}
	order := clientv3.SortAscend
	if r.Reverse {
		order = clientv3.SortDescend
	}
	opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithSort(clientv3.SortByKey, order)}
	if r.Limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(r.Limit)))
	}
	err = b.call(ctx, func(ctx context.Context) error {
		resp, err := b.cli.Get(ctx, start, opts...)
		if err != nil {
			return err
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			kvs = append(kvs, b.kvOf(kv))
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("etcd: range [%q, %q): %w", r.Start, r.End, err)
	}
	return kvs, rev, nil
}

// Txn applies ops when every compare holds, as one etcd transaction, and
// returns the revision etcd gave it.
func (b *Backend) Txn(ctx context.Context, cmps []store.Compare, ops []store.Op) (int64, error) {
	ops = lastPerKey(ops)
	if err := b.fits(cmps, ops); err != nil {
		return 0, err
	}
	if len(ops) == 0 {
		return b.currentRev(ctx, cmps)
	}
	ifs := b.compares(cmps)
	thens := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		if op.Delete {
			thens[i] = clientv3.OpDelete(b.o.Prefix + op.Key)
		} else {
			thens[i] = clientv3.OpPut(b.o.Prefix+op.Key, string(op.Value))
		}
	}
	rev, err := b.commit(ctx, ifs, thens)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return 0, err
		}
		if errors.Is(err, rpctypes.ErrRequestTooLarge) || errors.Is(err, rpctypes.ErrTooManyOps) {
			// The cluster's flags are lower than etcd.max_request_bytes
			// or etcd.max_txn_ops say: a limit, not an outage.
			return 0, fmt.Errorf("%w: the cluster refused %d ops (%v): set etcd.max_request_bytes and etcd.max_txn_ops to the cluster's flags",
				ErrTooLarge, len(ops), err)
		}
		return 0, fmt.Errorf("etcd: txn of %d ops: %w", len(ops), err)
	}
	return rev, nil
}

// commit runs one transaction (with b.call's retries) and returns its
// revision, or store.ErrConflict when a compare failed.
func (b *Backend) commit(ctx context.Context, ifs []clientv3.Cmp, thens []clientv3.Op) (int64, error) {
	var rev int64
	err := b.call(ctx, func(ctx context.Context) error {
		resp, err := b.cli.Txn(ctx).If(ifs...).Then(thens...).Commit()
		if err != nil {
			return err
		}
		if !resp.Succeeded {
			return store.ErrConflict
		}
		rev = resp.Header.Revision
		return nil
	})
	return rev, err
}

// compares turns the store's compares into etcd's: each key's
// ModRevision (0: absent).
func (b *Backend) compares(cmps []store.Compare) []clientv3.Cmp {
	ifs := make([]clientv3.Cmp, len(cmps))
	for i, c := range cmps {
		ifs[i] = clientv3.Compare(clientv3.ModRevision(b.o.Prefix+c.Key), "=", c.ModRev)
	}
	return ifs
}

// lastPerKey keeps, of several ops on one key, the last: etcd refuses a
// transaction that names a key twice, and the store's ops apply in order,
// so the last one is the key's outcome.
func lastPerKey(ops []store.Op) []store.Op {
	seen := make(map[string]bool, len(ops))
	out := make([]store.Op, 0, len(ops))
	for i := len(ops) - 1; i >= 0; i-- {
		if !seen[ops[i].Key] {
			seen[ops[i].Key] = true
			out = append(out, ops[i])
		}
	}
	slices.Reverse(out)
	return out
}

// currentRev answers a Txn without ops: ErrConflict when a compare fails,
// else the current revision. It reads, so it changes nothing. The read op
// in it matters: etcd serves a transaction without ops as a serializable
// read, from the member's own state, which a lagging follower answers with
// a stale revision (the three-member conformance run caught it); a
// linearizable range makes the whole transaction linearizable.
func (b *Backend) currentRev(ctx context.Context, cmps []store.Compare) (int64, error) {
	rev, err := b.commit(ctx, b.compares(cmps), []clientv3.Op{clientv3.OpGet(b.o.Prefix, clientv3.WithCountOnly())})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return 0, fmt.Errorf("etcd: txn: %w", err)
	}
	return rev, err
}

// fits refuses a transaction the cluster would refuse for its size.
func (b *Backend) fits(cmps []store.Compare, ops []store.Op) error {
	if len(ops) > b.o.MaxTxnOps || len(cmps) > b.o.MaxTxnOps {
		return fmt.Errorf("%w: %d operations and %d compares; the cluster takes %d (raise etcd's --max-txn-ops and etcd.max_txn_ops together)",
			ErrTooLarge, len(ops), len(cmps), b.o.MaxTxnOps)
	}
	size := 0
	for _, c := range cmps {
		size += len(b.o.Prefix) + len(c.Key) + 16
	}
	for _, op := range ops {
		size += len(b.o.Prefix) + len(op.Key) + len(op.Value) + 16
	}
	if size > b.o.MaxRequestBytes {
		return fmt.Errorf("%w: %d bytes; the cluster takes %d (raise etcd's --max-request-bytes and etcd.max_request_bytes together)",
			ErrTooLarge, size, b.o.MaxRequestBytes)
	}
	return nil
}
