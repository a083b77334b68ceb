package model_test

import (
	"context"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
)

// TestFollowHandsEachModelToEveryConsumer: over a real store, Follow
// compiles the current State and then each write's, incrementally, and
// gives every consumer the same Model, in order; it returns when its
// context ends (goleak checks that nothing stays behind).
func TestFollowHandsEachModelToEveryConsumer(t *testing.T) {
	st := nodetest.Store(t)
	ctx, cancel := context.WithCancel(context.Background())
	first, second := make(chan *model.Model, 16), make(chan *model.Model, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		model.Follow(ctx, st, nil, func(m *model.Model) { first <- m }, func(m *model.Model) { second <- m })
	}()
	defer func() { cancel(); <-done }()

	m0 := <-first
	if m0 != <-second || m0.State != st.Current() {
		t.Fatal("the consumers did not get the same model of the current State")
	}
	root := testpki.NewRoot(t, "Follow Root", testpki.Options{})
	ca, err := st.CreateCA(context.Background(), nodetest.Admin, "follow", root.PEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m1 := <-first:
		if m1 != <-second || m1.CAs[ca.GetId()] == nil || m1.Rev() <= m0.Rev() {
			t.Fatalf("after the write: rev %d, CA compiled %v", m1.Rev(), m1.CAs[ca.GetId()] != nil)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no model after a write")
	}
}
