package api_test

import (
	"context"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestListSitesGivesFleetCounts: with an Envoy connected, GetSite lists
// the fleet's nodes and ListSites only counts them.
func TestListSitesGivesFleetCounts(t *testing.T) {
	e := start(t)
	c := e.client(e.admin)
	ctx := context.Background()
	if _, err := c.CreateSite(ctx, siteReq(t, "app.example.com")); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(e.srv.XDSAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: "edge-1", Cluster: "eu"}, TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	var site *pb.Site
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if site, err = c.GetSite(ctx, &pb.GetSiteRequest{Hostname: "app.example.com"}); err != nil {
			t.Fatal(err)
		}
		if f := site.GetStatus().GetFleets(); len(f) == 1 && len(f[0].GetNodes()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetSite status: %v", site.GetStatus())
		}
	}
	if n := site.GetStatus().GetFleets()[0].GetNodes()[0]; n.GetNode() != "edge-1" || n.GetProtocol() != "sotw" {
		t.Errorf("node %v", n)
	}
	list, err := c.ListSites(ctx, &pb.ListSitesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	f := list.GetSites()[0].GetStatus().GetFleets()
	if len(f) != 1 || f[0].GetFleet() != "eu" || f[0].GetConnected() != 1 || len(f[0].GetNodes()) != 0 {
		t.Errorf("ListSites fleets: %v", f)
	}
}
