package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mtlsgate/mtlsgate/store"
)

func testGetAbsent(t *testing.T, b store.Backend) {
	wantAbsent(t, b, "missing")
	putAll(t, b, "present", "v")
	wantAbsent(t, b, "missing")
	wantAbsent(t, b, "presen")
	wantAbsent(t, b, "present/")
}

func testGetPresent(t *testing.T, b store.Backend) {
	r1 := putAll(t, b, "k", "v1", "other", "o")
	wantValue(t, b, "k", "v1", r1)
	r2 := putAll(t, b, "k", "v2")
	if r2 <= r1 {
		t.Fatalf("second Txn revision %d, want > %d", r2, r1)
	}
	wantValue(t, b, "k", "v2", r2)
	wantValue(t, b, "other", "o", r1)
}

func testRangeSorted(t *testing.T, b store.Backend) {
	keys := []string{"b", "a/2", "c", "a", "a/10", "a/1", "ab", "a\x00"}
	modRevs := map[string]int64{}
	var last int64
	for _, k := range keys {
		last = putAll(t, b, k, "v-"+k)
		modRevs[k] = last
	}
	kvs, rev := mustRange(t, b, store.Range{})
	if rev != last {
		t.Fatalf("Range revision = %d, want %d", rev, last)
	}
	want := []string{"a", "a\x00", "a/1", "a/10", "a/2", "ab", "b", "c"}
	if len(kvs) != len(want) {
		t.Fatalf("Range returned %d keys, want %d", len(kvs), len(want))
	}
	for i, kv := range kvs {
		if kv.Key != want[i] || string(kv.Value) != "v-"+want[i] || kv.ModRev != modRevs[want[i]] {
			t.Fatalf("Range[%d] = %q=%q@%d, want %q=%q@%d", i, kv.Key, kv.Value, kv.ModRev,
				want[i], "v-"+want[i], modRevs[want[i]])
		}
	}
}

// putABCDE writes the keys a to e.
func putABCDE(t *testing.T, b store.Backend) {
	putAll(t, b, "c", "3", "a", "1", "e", "5", "b", "2", "d", "4")
}

func testRangeStartEnd(t *testing.T, b store.Backend) {
	putABCDE(t, b)
	wantKeys(t, b, store.Range{Start: "b", End: "d"}, "b", "c")
	wantKeys(t, b, store.Range{Start: "b"}, "b", "c", "d", "e")
	wantKeys(t, b, store.Range{End: "c"}, "a", "b")
	wantKeys(t, b, store.Range{Start: "bb", End: "dd"}, "c", "d")
	wantKeys(t, b, store.Range{Start: "a", End: "a\x00"}, "a")
	wantKeys(t, b, store.Range{Start: "c", End: "c"})
	wantKeys(t, b, store.Range{Start: "d", End: "b"})
	wantKeys(t, b, store.Range{Start: "f"})
}

func testRangeLimit(t *testing.T, b store.Backend) {
	putABCDE(t, b)
	wantKeys(t, b, store.Range{Limit: 2}, "a", "b")
	wantKeys(t, b, store.Range{Limit: 1}, "a")
	wantKeys(t, b, store.Range{Limit: 10}, "a", "b", "c", "d", "e")
	wantKeys(t, b, store.Range{Start: "b", Limit: 2}, "b", "c")
	wantKeys(t, b, store.Range{Start: "b", End: "d", Limit: 5}, "b", "c")
}

func testRangeReverse(t *testing.T, b store.Backend) {
	putABCDE(t, b)
	wantKeys(t, b, store.Range{Reverse: true}, "e", "d", "c", "b", "a")
	wantKeys(t, b, store.Range{Reverse: true, Limit: 2}, "e", "d")
	wantKeys(t, b, store.Range{Start: "b", End: "d", Reverse: true}, "c", "b")
	wantKeys(t, b, store.Range{Start: "b", End: "d", Reverse: true, Limit: 1}, "c")
	wantKeys(t, b, store.Range{End: "cc", Reverse: true}, "c", "b", "a")
	wantKeys(t, b, store.Range{End: "c", Reverse: true, Limit: 2}, "b", "a")
	wantKeys(t, b, store.Range{End: "zz", Reverse: true, Limit: 3}, "e", "d", "c")
	wantKeys(t, b, store.Range{Start: "bb", Reverse: true}, "e", "d", "c")
	wantKeys(t, b, store.Range{End: "a", Reverse: true})
	wantKeys(t, b, store.Range{Start: "d", End: "b", Reverse: true})
}

func testRangePrefix(t *testing.T, b store.Backend) {
	putAll(t, b, "a", "", "a/", "", "a/1", "", "a/2/x", "", "a0", "", "b", "", "`", "")
	wantKeys(t, b, store.Prefix("a/"), "a/", "a/1", "a/2/x")
	wantKeys(t, b, store.Prefix("a"), "a", "a/", "a/1", "a/2/x", "a0")
	wantKeys(t, b, store.Prefix("a/2"), "a/2/x")
	wantKeys(t, b, store.Prefix("a/3"))
	wantKeys(t, b, store.Prefix(""), "`", "a", "a/", "a/1", "a/2/x", "a0", "b")
	r := store.Prefix("a/")
	r.Reverse, r.Limit = true, 2
	wantKeys(t, b, r, "a/2/x", "a/1")
}

func testRangePrefixFF(t *testing.T, b store.Backend) {
	putAll(t, b,
		"x", "", "x\xfe", "", "x\xff", "", "x\xff\x00", "", "x\xff\xff", "",
		"x\xff\xff\x01", "", "y", "", "\xfe", "", "\xff", "", "\xff\x00a", "", "\xff\xff", "")
	wantKeys(t, b, store.Prefix("x\xff"), "x\xff", "x\xff\x00", "x\xff\xff", "x\xff\xff\x01")
	wantKeys(t, b, store.Prefix("x\xff\xff"), "x\xff\xff", "x\xff\xff\x01")
	wantKeys(t, b, store.Prefix("\xff"), "\xff", "\xff\x00a", "\xff\xff")
	wantKeys(t, b, store.Prefix("\xff\xff"), "\xff\xff")
	r := store.Prefix("\xff")
	r.Reverse, r.Limit = true, 2
	wantKeys(t, b, r, "\xff\xff", "\xff\x00a")
	r = store.Prefix("x\xff")
	r.Reverse, r.Limit = true, 2
	wantKeys(t, b, r, "x\xff\xff\x01", "x\xff\xff")
}

func testRevisionPerTxn(t *testing.T, b store.Backend) {
	r0 := currentRev(t, b)
	r1 := putAll(t, b, "a", "1", "b", "1", "c", "1")
	if r1 != r0+1 {
		t.Fatalf("Txn revision = %d, want %d", r1, r0+1)
	}
	for _, k := range []string{"a", "b", "c"} {
		wantValue(t, b, k, "1", r1)
	}
	r2 := txn(t, b, nil, put("a", "2"), del("b"))
	if r2 != r0+2 {
		t.Fatalf("Txn revision = %d, want %d", r2, r0+2)
	}
	wantValue(t, b, "a", "2", r2)
	wantAbsent(t, b, "b")
	wantValue(t, b, "c", "1", r1)
	wantRev(t, b, r2)
}

// wantConflict runs a transaction that must fail with store.ErrConflict.
func wantConflict(t *testing.T, b store.Backend, cmps []store.Compare, ops ...store.Op) {
	t.Helper()
	_, err := b.Txn(t.Context(), cmps, ops)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Txn(%v, %s) error = %v, want ErrConflict", cmps, opsText(ops), err)
	}
}

func testConflictChangesNothing(t *testing.T, b store.Backend) {
	r1 := putAll(t, b, "a", "1")
	ops := []store.Op{put("a", "2"), put("b", "2"), del("a")}
	wantConflict(t, b, []store.Compare{{Key: "a", ModRev: r1 + 1}}, ops...)
	wantConflict(t, b, []store.Compare{{Key: "a", ModRev: r1 - 1}}, ops...)
	wantConflict(t, b, []store.Compare{{Key: "a", ModRev: 0}}, ops...)
	wantConflict(t, b, []store.Compare{{Key: "b", ModRev: r1}}, ops...)
	wantConflict(t, b, []store.Compare{{Key: "a", ModRev: r1}, {Key: "b", ModRev: r1}}, ops...)
	wantConflict(t, b, []store.Compare{{Key: "b", ModRev: 0}, {Key: "a", ModRev: 0}}, ops...)
	wantValue(t, b, "a", "1", r1)
	wantAbsent(t, b, "b")
	wantRev(t, b, r1)
	r2 := txn(t, b, []store.Compare{{Key: "a", ModRev: r1}, {Key: "b", ModRev: 0}}, put("b", "2"))
	if r2 != r1+1 {
		t.Fatalf("Txn after conflicts: revision %d, want %d", r2, r1+1)
	}
	wantValue(t, b, "b", "2", r2)
}

func testCreateIfAbsent(t *testing.T, b store.Backend) {
	absent := []store.Compare{{Key: "k", ModRev: 0}}
	r1 := txn(t, b, absent, put("k", "first"))
	wantConflict(t, b, absent, put("k", "second"))
	wantValue(t, b, "k", "first", r1)
	r2 := txn(t, b, []store.Compare{{Key: "k", ModRev: r1}}, del("k"))
	txn(t, b, absent, put("k", "third"))
	wantValue(t, b, "k", "third", r2+1)
}

func testDelete(t *testing.T, b store.Backend) {
	putAll(t, b, "x", "1", "y", "1")
	r := txn(t, b, nil, del("x"))
	wantAbsent(t, b, "x")
	wantValue(t, b, "y", "1", 0)
	wantRev(t, b, r)
	wantKeys(t, b, store.Range{}, "y")
}

func testDeleteAbsent(t *testing.T, b store.Backend) {
	r0 := putAll(t, b, "x", "1")
	if rev := txn(t, b, nil, del("nope")); rev != r0 {
		t.Fatalf("Txn deleting an absent key: revision %d, want the current %d", rev, r0)
	}
	wantRev(t, b, r0)
	if rev := txn(t, b, nil, del("nope"), put("y", "1")); rev != r0+1 {
		t.Fatalf("Txn deleting an absent key and putting one: revision %d, want %d", rev, r0+1)
	}
	wantValue(t, b, "x", "1", r0)
	wantValue(t, b, "y", "1", r0+1)
}

func testEmptyTxn(t *testing.T, b store.Backend) {
	r0 := currentRev(t, b)
	if rev := txn(t, b, nil); rev != r0 {
		t.Fatalf("empty Txn revision = %d, want %d", rev, r0)
	}
	r1 := putAll(t, b, "a", "1")
	if rev := txn(t, b, []store.Compare{{Key: "a", ModRev: r1}}); rev != r1 {
		t.Fatalf("empty Txn revision = %d, want %d", rev, r1)
	}
	wantConflict(t, b, []store.Compare{{Key: "a", ModRev: r1 + 1}})
	wantRev(t, b, r1)
}

func testValuesCopied(t *testing.T, b store.Backend) {
	v := []byte("hello")
	r := txn(t, b, nil, store.Op{Key: "k", Value: v})
	v[0] = 'X'
	wantValue(t, b, "k", "hello", r)
	kv, _ := mustGet(t, b, "k")
	kv.Value[0] = 'Y'
	wantValue(t, b, "k", "hello", r)
	kvs, _ := mustRange(t, b, store.Prefix("k"))
	kvs[0].Value[0] = 'Z'
	wantValue(t, b, "k", "hello", r)
	kvs, _ = mustRange(t, b, store.Prefix("k"))
	if string(kvs[0].Value) != "hello" {
		t.Fatalf("Range value = %q after mutating an earlier result, want %q", kvs[0].Value, "hello")
	}
}

func testLargeValue(t *testing.T, b store.Backend) {
	big := make([]byte, 32<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>11)
	}
	r := txn(t, b, nil, store.Op{Key: "big", Value: big}, put("small", "s"))
	kv, ok := mustGet(t, b, "big")
	if !ok || kv.ModRev != r || !bytes.Equal(kv.Value, big) {
		t.Fatalf("Get(big): ok=%v modrev=%d len=%d equal=%v, want %d bytes at %d",
			ok, kv.ModRev, len(kv.Value), bytes.Equal(kv.Value, big), len(big), r)
	}
	kvs, _ := mustRange(t, b, store.Range{})
	if len(kvs) != 2 || !bytes.Equal(kvs[0].Value, big) || string(kvs[1].Value) != "s" {
		t.Fatalf("Range after a large value: %d keys or wrong values", len(kvs))
	}
	r2 := putAll(t, b, "big", "now small")
	wantValue(t, b, "big", "now small", r2)
}
