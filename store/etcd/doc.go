// Package etcd implements store.Backend on an etcd cluster, through
// go.etcd.io/etcd/client/v3, so that several mtlsgate replicas share one
// configuration that survives the loss of a member.
//
// # Mapping
//
// store.Backend follows etcd's model, so the mapping is direct:
//
//   - every store key lives under Options.Prefix (default "/mtlsgate/"), so
//     that several installations can share a cluster; the prefix is added
//     on the way in and removed on the way out;
//   - the store's revision is etcd's cluster revision: every writing
//     transaction is one etcd Txn, guarded by the store's compares (each a
//     ModRevision comparison; 0 means absent), and returns the revision etcd
//     assigned it; a Txn whose ops change nothing does not advance it, as
//     the conformance suite requires;
//   - reads are linearizable: a Range returns every key in its range at one
//     revision, sorted by key, and that revision;
//   - a watch is an etcd watch from the next revision, under the prefix,
//     requiring a leader (a member cut off from the quorum ends the watch
//     rather than serving stale events) with progress notifications; etcd
//     may deliver several revisions in one response, and the backend splits
//     them into one store.WatchResponse per revision. A watch from a
//     compacted revision ends with store.ErrCompacted, and the consumer
//     lists again (store.Store does).
//
// Because the revision is the cluster's, it can jump when other
// installations write under other prefixes: the store only compares
// revisions, never counts them.
//
// # Sizes
//
// etcd refuses a request larger than its --max-request-bytes (1.5 MiB by
// default) and a Txn with more than --max-txn-ops operations (128). The
// backend refuses such a Txn itself, before sending it, with an error that
// names the etcd flag to raise (Options.MaxRequestBytes and
// Options.MaxTxnOps must match the cluster's flags). docs/operations.md
// says how to size both for the store's limits (a CRL is one value).
//
// # Secrets
//
// The store seals private keys before they reach a backend (package seal),
// so etcd holds them encrypted, as the bbolt file does.
package etcd
