package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/mtlsgate/mtlsgate/store"
)

func testWatchFromCurrent(t *testing.T, b store.Backend) {
	putAll(t, b, "before", "x")
	ch := b.Watch(t.Context(), "", currentRev(t, b))
	r1 := putAll(t, b, "a/1", "x", "a/2", "y")
	r2 := txn(t, b, nil, del("a/1"))
	txn(t, b, nil, del("absent"))
	r3 := txn(t, b, nil, put("a/1", "z"), del("a/2"))
	r4 := putAll(t, b, "end", "")
	recvEvents(t, ch, r1, putEvent("a/1", "x", r1), putEvent("a/2", "y", r1))
	recvEvents(t, ch, r2, "del a/1")
	recvEvents(t, ch, r3, putEvent("a/1", "z", r3), "del a/2")
	recvEvents(t, ch, r4, putEvent("end", "", r4))
}

func testWatchPrefix(t *testing.T, b store.Backend) {
	ch := b.Watch(t.Context(), "a/", currentRev(t, b))
	putAll(t, b, "b/1", "v")
	r2 := txn(t, b, nil, put("b/2", "v"), put("a/1", "v"), put("ab", "v"), put("a", "v"))
	txn(t, b, nil, del("b/1"), del("a"))
	r4 := txn(t, b, nil, del("a/1"), put("a/", "w"))
	recvEvents(t, ch, r2, putEvent("a/1", "v", r2))
	recvEvents(t, ch, r4, "del a/1", putEvent("a/", "w", r4))
}

func testWatchReplay(t *testing.T, b store.Backend) {
	r0 := putAll(t, b, "k", "0")
	r1 := putAll(t, b, "k", "1")
	r2 := txn(t, b, nil, del("k"), put("j", "2"))
	r3 := putAll(t, b, "k", "3")
	all := b.Watch(t.Context(), "", r0)
	recvEvents(t, all, r1, putEvent("k", "1", r1))
	recvEvents(t, all, r2, "del k", putEvent("j", "2", r2))
	recvEvents(t, all, r3, putEvent("k", "3", r3))
	fromR1 := b.Watch(t.Context(), "k", r1)
	recvEvents(t, fromR1, r2, "del k")
	recvEvents(t, fromR1, r3, putEvent("k", "3", r3))
	fromR3 := b.Watch(t.Context(), "", r3)
	r4 := putAll(t, b, "k", "4")
	for _, ch := range []<-chan store.WatchResponse{all, fromR1, fromR3} {
		recvEvents(t, ch, r4, putEvent("k", "4", r4))
	}
}

func testWatchCancel(t *testing.T, b store.Backend) {
	idleCtx, cancelIdle := context.WithCancel(t.Context())
	idle := b.Watch(idleCtx, "", currentRev(t, b))
	r0 := putAll(t, b, "k", "0")
	// This watch has replays pending that nobody reads.
	busyCtx, cancelBusy := context.WithCancel(t.Context())
	busy := b.Watch(busyCtx, "", r0-1)
	putAll(t, b, "k", "1")
	putAll(t, b, "k", "2")
	cancelIdle()
	cancelBusy()
	for _, ch := range []<-chan store.WatchResponse{idle, busy} {
		for _, resp := range drain(t, ch) {
			if resp.Err != nil && !errors.Is(resp.Err, context.Canceled) {
				t.Fatalf("cancelled watch: error %v", resp.Err)
			}
		}
	}
	// The backend still works and watches again.
	live := b.Watch(t.Context(), "", currentRev(t, b))
	r := putAll(t, b, "k", "3")
	recvEvents(t, live, r, putEvent("k", "3", r))
}

func testWatchValuesCopied(t *testing.T, b store.Backend) {
	from := currentRev(t, b)
	first := b.Watch(t.Context(), "", from)
	second := b.Watch(t.Context(), "", from)
	v := []byte("hello")
	r := txn(t, b, nil, store.Op{Key: "k", Value: v})
	v[0] = 'X'
	resp := recv(t, first)
	if len(resp.Events) != 1 || string(resp.Events[0].Value) != "hello" {
		t.Fatalf("watch events = %q, want one put of %q", eventStrings(resp.Events), "hello")
	}
	resp.Events[0].Value[0] = 'Y'
	recvEvents(t, second, r, putEvent("k", "hello", r))
	replay := b.Watch(t.Context(), "", from)
	recvEvents(t, replay, r, putEvent("k", "hello", r))
	wantValue(t, b, "k", "hello", r)
}

func testClose(t *testing.T, b store.Backend) {
	from := currentRev(t, b)
	idle := b.Watch(t.Context(), "", from)
	r := putAll(t, b, "k", "v")
	recvEvents(t, idle, r, putEvent("k", "v", r))
	unread := b.Watch(t.Context(), "", from)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, ch := range []<-chan store.WatchResponse{idle, unread} {
		for _, resp := range drain(t, ch) {
			if resp.Err != nil && !errors.Is(resp.Err, store.ErrClosed) {
				t.Fatalf("watch ended by Close: error %v, want ErrClosed", resp.Err)
			}
		}
	}
	wantClosed(t, b)
}

// wantClosed checks that every call on b fails with store.ErrClosed.
func wantClosed(t *testing.T, b store.Backend) {
	t.Helper()
	ctx := t.Context()
	if _, _, err := b.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, _, err := b.Range(ctx, store.Range{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Range after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Txn(ctx, nil, []store.Op{put("k", "w")}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Txn after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Txn(ctx, nil, nil); !errors.Is(err, store.ErrClosed) {
		t.Errorf("empty Txn after Close: %v, want ErrClosed", err)
	}
	ch := b.Watch(ctx, "", 0)
	if resp := recv(t, ch); !errors.Is(resp.Err, store.ErrClosed) {
		t.Errorf("Watch after Close: response %+v, want error ErrClosed", resp)
	}
	if rest := drain(t, ch); len(rest) != 0 {
		t.Errorf("Watch after Close: %d responses after the error", len(rest))
	}
}
