// Package storetest is the conformance suite of store.Backend. Every
// implementation runs RunBackendTests; implementations whose watch history
// can be made unavailable also run RunCompactionTests.
//
// The suite checks the contract of store.Backend and pins the points where
// it follows etcd: a transaction whose ops change nothing (no ops, or only
// deletes of absent keys) returns the current revision without bumping it
// and produces no watch response, and Watch(rev) replays the transactions
// with revisions strictly greater than rev. It does not assume the revision
// of a new backend: every check is relative to the revision it starts at.
package storetest

import (
	"testing"

	"github.com/mtlsgate/mtlsgate/store"
)

// Compactor makes every revision up to and including rev unavailable to
// Watch: afterwards a watch that has to replay revision rev or an older
// one fails with store.ErrCompacted. It may write transactions of its own,
// under keys starting with "\x00compact/", to achieve that.
type Compactor func(t *testing.T, b store.Backend, rev int64)

type backendTest struct {
	name string
	fn   func(t *testing.T, b store.Backend)
}

// RunBackendTests runs the conformance suite, one subtest per behaviour.
// Each subtest calls open for a new, empty backend, which open should close
// when the test ends (t.Cleanup); a subtest may close it earlier.
func RunBackendTests(t *testing.T, open func(t *testing.T) store.Backend) {
	tests := []backendTest{
		{"GetAbsent", testGetAbsent},
		{"GetPresent", testGetPresent},
		{"RangeSorted", testRangeSorted},
		{"RangeStartEnd", testRangeStartEnd},
		{"RangeLimit", testRangeLimit},
		{"RangeReverse", testRangeReverse},
		{"RangePrefix", testRangePrefix},
		{"RangePrefixEnd0xff", testRangePrefixFF},
		{"RevisionPerTxn", testRevisionPerTxn},
		{"ConflictChangesNothing", testConflictChangesNothing},
		{"CreateIfAbsent", testCreateIfAbsent},
		{"Delete", testDelete},
		{"DeleteAbsent", testDeleteAbsent},
		{"EmptyTxn", testEmptyTxn},
		{"ValuesCopied", testValuesCopied},
		{"LargeValue", testLargeValue},
		{"ConcurrentCompareAndSwap", testConcurrentCAS},
		{"WatchFromCurrent", testWatchFromCurrent},
		{"WatchPrefix", testWatchPrefix},
		{"WatchReplay", testWatchReplay},
		{"WatchCancel", testWatchCancel},
		{"WatchConcurrentWithTxn", testWatchConcurrentWithTxn},
		{"WatchValuesCopied", testWatchValuesCopied},
		{"Close", testClose},
	}
	run(t, open, tests)
}

// RunCompactionTests checks that watches from revisions made unavailable by
// compact fail with store.ErrCompacted. Like RunBackendTests it opens a new
// backend per subtest.
func RunCompactionTests(t *testing.T, open func(t *testing.T) store.Backend, compact Compactor) {
	tests := []backendTest{
		{"WatchCompacted", func(t *testing.T, b store.Backend) { testWatchCompacted(t, b, compact) }},
		{"WatchAfterCompaction", func(t *testing.T, b store.Backend) { testWatchAfterCompaction(t, b, compact) }},
	}
	run(t, open, tests)
}

func run(t *testing.T, open func(t *testing.T) store.Backend, tests []backendTest) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}
