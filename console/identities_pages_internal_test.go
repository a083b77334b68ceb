package console

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// pagedIdentities answers ListIdentities two names a page.
type pagedIdentities struct {
	pb.CertificateManagerServiceClient
	names []string
	calls int
}

func (p *pagedIdentities) ListIdentities(_ context.Context, r *pb.ListIdentitiesRequest, _ ...grpc.CallOption) (*pb.ListIdentitiesResponse, error) {
	p.calls++
	out := &pb.ListIdentitiesResponse{}
	for _, n := range p.names {
		if n > r.GetAfter() && len(out.Identities) < 2 {
			out.Identities = append(out.Identities, &pb.Identity{Name: n})
		}
	}
	if len(out.Identities) == 2 && out.Identities[1].GetName() != p.names[len(p.names)-1] {
		out.NextAfter = out.Identities[1].GetName()
	}
	return out, nil
}

// TestAllIdentities: the console follows next_after to the last page, so
// the list and the issue form's choices are never cut at one page.
func TestAllIdentities(t *testing.T) {
	api := &pagedIdentities{names: []string{"a", "b", "c", "d", "e"}}
	got, err := allIdentities(context.Background(), api)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(len(got.GetIdentities()), api.calls); s != "5 3" {
		t.Errorf("identities and calls: %s, want 5 3", s)
	}
}
