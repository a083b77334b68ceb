// Package bolt implements store.Backend on a single go.etcd.io/bbolt file.
//
// # Layout
//
// The file holds two buckets:
//
//   - "meta" holds "rev", the current revision of the keyspace as an 8-byte
//     big-endian integer, and "format", the layout version ("1").
//   - "kv" maps every key to its value prefixed with the 8-byte big-endian
//     revision that last modified it (its ModRev).
//
// Every writing Txn is one bbolt Update transaction that checks the
// compares, applies the ops with the next revision, and stores that revision
// in "meta": it commits all of that or nothing. bbolt syncs the file on every
// commit, so a Txn that returned survives a crash of the process or machine.
// A Txn whose ops change nothing (no ops, or only deletes of absent keys)
// writes nothing and returns the current revision, as etcd does. The file is
// created with mode 0600 and locked while open, so a second process gets an
// error instead of corrupting it.
//
// # Watch
//
// After a writing transaction commits, its events are appended, in revision
// order, to an in-memory replay history shared by all watches. The history
// keeps the most recent transactions whose total size stays within
// Options.WatchHistoryBytes (the newest transaction is always kept). Txn
// never waits for a watcher: it appends to the history and wakes the
// watches.
//
// Each watch has its own goroutine that remembers the next revision it must
// deliver and reads the history from there, sending the events under its
// prefix to the watch channel. A watch from an older revision replays the
// history the same way, so a watch started concurrently with a Txn neither
// misses nor repeats it. A watch whose next revision has left the history -
// because it asked for a revision older than the history holds, or because
// its consumer fell so far behind that the history moved past it - receives
// a response with Err set to store.ErrCompacted and its channel is closed:
// the consumer reloads with Range and watches again from the revision that
// Range returned. Memory for watches is thus bounded by WatchHistoryBytes
// however many watches are open or however slow they are.
//
// The history starts empty when the file is opened: a watch from a revision
// older than the one the file was opened at gets store.ErrCompacted.
package bolt
