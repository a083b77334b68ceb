package storetest

import (
	"errors"
	"testing"

	"github.com/mtlsgate/mtlsgate/store"
)

// wantCompacted checks that a watch fails with store.ErrCompacted and ends.
func wantCompacted(t *testing.T, ch <-chan store.WatchResponse) {
	t.Helper()
	resp := recv(t, ch)
	if !errors.Is(resp.Err, store.ErrCompacted) || len(resp.Events) != 0 {
		t.Fatalf("watch response = rev %d %q err %v, want ErrCompacted", resp.Rev, eventStrings(resp.Events), resp.Err)
	}
	if rest := drain(t, ch); len(rest) != 0 {
		t.Fatalf("%d watch responses after ErrCompacted", len(rest))
	}
}

func testWatchCompacted(t *testing.T, b store.Backend, compact Compactor) {
	r0 := currentRev(t, b)
	putAll(t, b, "c/1", "v")
	r2 := putAll(t, b, "c/2", "v")
	r3 := putAll(t, b, "c/3", "v")
	compact(t, b, r3)
	for _, from := range []int64{r0, r2} {
		wantCompacted(t, b.Watch(t.Context(), "c/", from))
	}
}

func testWatchAfterCompaction(t *testing.T, b store.Backend, compact Compactor) {
	r1 := putAll(t, b, "c/1", "v")
	compact(t, b, r1)
	now := currentRev(t, b)
	ch := b.Watch(t.Context(), "c/", now)
	r := putAll(t, b, "c/2", "w")
	recvEvents(t, ch, r, putEvent("c/2", "w", r))
	wantValue(t, b, "c/1", "v", r1)
}
