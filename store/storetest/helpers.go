package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/store"
)

// waitTimeout bounds every wait for a watch response or channel close.
const waitTimeout = 10 * time.Second

func put(key, value string) store.Op { return store.Op{Key: key, Value: []byte(value)} }

func del(key string) store.Op { return store.Op{Key: key, Delete: true} }

// txn runs a transaction that must succeed.
func txn(t *testing.T, b store.Backend, cmps []store.Compare, ops ...store.Op) int64 {
	t.Helper()
	rev, err := b.Txn(t.Context(), cmps, ops)
	if err != nil {
		t.Fatalf("Txn(%v, %s): %v", cmps, opsText(ops), err)
	}
	return rev
}

// opsText describes ops for a failure message: keys and value sizes, not
// the values (one is 32 MiB).
func opsText(ops []store.Op) string {
	var b strings.Builder
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		if op.Delete {
			fmt.Fprintf(&b, "delete %q", op.Key)
		} else {
			fmt.Fprintf(&b, "put %q (%d bytes)", op.Key, len(op.Value))
		}
	}
	return "[" + b.String() + "]"
}

// putAll writes key/value pairs in one transaction.
func putAll(t *testing.T, b store.Backend, kvs ...string) int64 {
	t.Helper()
	var ops []store.Op
	for i := 0; i+1 < len(kvs); i += 2 {
		ops = append(ops, put(kvs[i], kvs[i+1]))
	}
	return txn(t, b, nil, ops...)
}

func mustGet(t *testing.T, b store.Backend, key string) (store.KV, bool) {
	t.Helper()
	kv, ok, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return kv, ok
}

// wantValue checks that key holds value, written at modRev unless it is 0.
func wantValue(t *testing.T, b store.Backend, key, value string, modRev int64) {
	t.Helper()
	kv, ok := mustGet(t, b, key)
	switch {
	case !ok:
		t.Fatalf("Get(%q): absent, want %q", key, value)
	case kv.Key != key || string(kv.Value) != value:
		t.Fatalf("Get(%q) = %q=%q, want %q=%q", key, kv.Key, kv.Value, key, value)
	case modRev != 0 && kv.ModRev != modRev:
		t.Fatalf("Get(%q).ModRev = %d, want %d", key, kv.ModRev, modRev)
	}
}

func wantAbsent(t *testing.T, b store.Backend, key string) {
	t.Helper()
	if kv, ok := mustGet(t, b, key); ok {
		t.Fatalf("Get(%q) = %q@%d, want absent", key, kv.Value, kv.ModRev)
	}
}

func mustRange(t *testing.T, b store.Backend, r store.Range) ([]store.KV, int64) {
	t.Helper()
	kvs, rev, err := b.Range(t.Context(), r)
	if err != nil {
		t.Fatalf("Range(%+v): %v", r, err)
	}
	return kvs, rev
}

// wantKeys checks the keys Range(r) returns, in order.
func wantKeys(t *testing.T, b store.Backend, r store.Range, want ...string) {
	t.Helper()
	kvs, _ := mustRange(t, b, r)
	got := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		got = append(got, kv.Key)
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Range(%+v) keys = %q, want %q", r, got, want)
	}
}

// currentRev returns the revision of the backend.
func currentRev(t *testing.T, b store.Backend) int64 {
	t.Helper()
	_, rev := mustRange(t, b, store.Range{Limit: 1})
	return rev
}

func wantRev(t *testing.T, b store.Backend, want int64) {
	t.Helper()
	if got := currentRev(t, b); got != want {
		t.Fatalf("revision = %d, want %d", got, want)
	}
}

// recv returns the next response of a watch, failing on timeout or close.
func recv(t *testing.T, ch <-chan store.WatchResponse) store.WatchResponse {
	t.Helper()
	select {
	case resp, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed, want a response")
		}
		return resp
	case <-time.After(waitTimeout):
		t.Fatal("no watch response within", waitTimeout)
	}
	panic("unreachable")
}

// recvEvents receives one response that must carry no error and be for
// revision rev, and checks its events (see eventString).
func recvEvents(t *testing.T, ch <-chan store.WatchResponse, rev int64, want ...string) {
	t.Helper()
	resp := recv(t, ch)
	if resp.Err != nil {
		t.Fatalf("watch response error: %v, want revision %d", resp.Err, rev)
	}
	got := eventStrings(resp.Events)
	if resp.Rev != rev || !slices.Equal(got, want) {
		t.Fatalf("watch response = rev %d %q, want rev %d %q", resp.Rev, got, rev, want)
	}
}

// drain reads a watch until its channel closes and returns what it got.
func drain(t *testing.T, ch <-chan store.WatchResponse) []store.WatchResponse {
	t.Helper()
	var got []store.WatchResponse
	timeout := time.After(waitTimeout)
	for {
		select {
		case resp, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, resp)
		case <-timeout:
			t.Fatalf("watch channel not closed within %v (got %d responses)", waitTimeout, len(got))
		}
	}
}

// eventString renders an event as "put key=value@modrev" or "del key",
// flagging a delete that carries a value.
func eventString(e store.Event) string {
	if e.Delete {
		if e.Value != nil {
			return fmt.Sprintf("del %s with value %q", e.Key, e.Value)
		}
		return "del " + e.Key
	}
	return fmt.Sprintf("put %s=%s@%d", e.Key, e.Value, e.ModRev)
}

func eventStrings(events []store.Event) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, eventString(e))
	}
	return out
}

func putEvent(key, value string, rev int64) string {
	return eventString(store.Event{KV: store.KV{Key: key, Value: []byte(value), ModRev: rev}})
}
