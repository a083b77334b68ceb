package store_test

import (
	"context"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestCRLFetchStatuses: statuses are stored by URL (a second put
// replaces), listed sorted, deleted, and change no State.
func TestCRLFetchStatuses(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	before := f.s.Current()
	for _, st := range []*pb.CRLFetchStatus{
		{Url: "http://b.example/b.crl", Result: "fetch_error", Failures: 1},
		{Url: "http://a.example/a.crl", Result: "stored"},
		{Url: "http://b.example/b.crl", Result: "fetch_error", Failures: 2},
	} {
		if err := f.s.PutCRLFetchStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.s.CRLFetchStatuses(ctx)
	if err != nil || len(got) != 2 || got[0].GetUrl() != "http://a.example/a.crl" || got[1].GetFailures() != 2 {
		t.Fatalf("statuses: %v %+v", err, got)
	}
	if f.s.Current() != before {
		t.Fatal("a status write changed the State")
	}
	if err := f.s.DeleteCRLFetchStatus(ctx, "http://a.example/a.crl"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.s.CRLFetchStatuses(ctx); len(got) != 1 || got[0].GetUrl() != "http://b.example/b.crl" {
		t.Fatalf("after delete: %+v", got)
	}
}
