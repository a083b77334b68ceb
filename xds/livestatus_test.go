package xds_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"

	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/xds"
)

// fleetIs waits until the status of fleet is want (its nodes' connection
// and acknowledgement times aside): the server reads requests on the
// stream's goroutine, so what a test sent is seen a moment later.
func fleetIs(t *testing.T, cp *controlPlane, fleet string, want xds.FleetStatus, wantRev int64) {
	t.Helper()
	var got []xds.FleetStatus
	var rev int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got, rev = cp.srv.Fleets([]string{fleet})
		for i := range got[0].Nodes {
			got[0].Nodes[i].ConnectedAt, got[0].Nodes[i].AckedAt = time.Time{}, time.Time{}
		}
		if fmt.Sprint(got[0]) == fmt.Sprint(want) && rev == wantRev {
			return
		}
	}
	t.Fatalf("fleet %s: got %+v at revision %d, want %+v at %d", fleet, got, rev, want, wantRev)
}

// TestSotWAcknowledgementsInFleetStatus: a node is listed as soon as it
// asks, current once it acknowledges the version served, not current
// again when a new revision is published, and a rejection of it leaves
// the node on the revision it acknowledged before.
func TestSotWAcknowledgementsInFleetStatus(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	cp := startControlPlane(t, st)
	fleetIs(t, cp, "edge", xds.FleetStatus{Fleet: "edge"}, st.Rev)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := adsClient(t, cp.addr).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := listen(stream.Recv)
	send := func(r *discovery.DiscoveryRequest) {
		t.Helper()
		r.Node, r.TypeUrl = node("edge"), resourcev3.ListenerType
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	send(&discovery.DiscoveryRequest{})
	first := in.within(t, 5*time.Second)
	waiting := xds.NodeStatus{Node: "envoy-edge", Protocol: "sotw"}
	fleetIs(t, cp, "edge", xds.FleetStatus{Fleet: "edge", Connected: 1, Nodes: []xds.NodeStatus{waiting}}, st.Rev)

	send(&discovery.DiscoveryRequest{VersionInfo: (*first).GetVersionInfo(), ResponseNonce: (*first).GetNonce()})
	atRev := func(rev int64, current bool) xds.FleetStatus {
		n := waiting
		n.AckedRevision, n.Current = rev, current
		fs := xds.FleetStatus{Fleet: "edge", Connected: 1, Nodes: []xds.NodeStatus{n}}
		if current {
			fs.Current = 1
		}
		return fs
	}
	fleetIs(t, cp, "edge", atRev(st.Rev, true), st.Rev)

	next := withSite(st, "app.example.net", func(s *pb.Site) { s.Settings.Mode = pb.Mode_MODE_ENFORCE })
	cp.srv.Update(model.Compile(next, nil))
	second := in.within(t, 5*time.Second)
	if second == nil {
		t.Fatal("no push after a mode change")
	}
	fleetIs(t, cp, "edge", atRev(st.Rev, false), next.Rev)
	send(&discovery.DiscoveryRequest{VersionInfo: (*first).GetVersionInfo(), ResponseNonce: (*second).GetNonce(),
		ErrorDetail: &statuspb.Status{Message: "rejected"}})
	fleetIs(t, cp, "edge", atRev(st.Rev, false), next.Rev)
	// Envoy asks again with the rejected response's nonce and no error
	// (it does when its subscriptions change): it still holds the first
	// version, not the one it rejected.
	send(&discovery.DiscoveryRequest{VersionInfo: (*first).GetVersionInfo(), ResponseNonce: (*second).GetNonce()})
	fleetIs(t, cp, "edge", atRev(st.Rev, false), next.Rev)

	// Going back to the first configuration at a third revision: the
	// node holds it already (versions are content hashes), so it is
	// current at that revision with nothing sent.
	back := withSite(next, "app.example.net", func(s *pb.Site) { s.Settings.Mode = st.Site("app.example.net").GetSettings().GetMode() })
	cp.srv.Update(model.Compile(back, nil))
	fleetIs(t, cp, "edge", atRev(back.Rev, true), back.Rev)
}

// TestDeltaAcknowledgementsInFleetStatus: a delta node is current when it
// holds the served version of every resource it subscribed to; a change
// to a secret it did not subscribe to leaves it current, a change to one
// it holds does not until it acknowledges.
func TestDeltaAcknowledgementsInFleetStatus(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "crl.yaml"))
	cp := startControlPlane(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := adsClient(t, cp.addr).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := listen(stream.Recv)
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.SecretType,
		ResourceNamesSubscribe: []string{"client-ca/full.example.com", "server/full.example.com"}}); err != nil {
		t.Fatal(err)
	}
	ack := func(r *discovery.DeltaDiscoveryResponse) {
		t.Helper()
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.SecretType, ResponseNonce: r.GetNonce()}); err != nil {
			t.Fatal(err)
		}
	}
	node := func(rev int64, current bool) xds.FleetStatus {
		fs := xds.FleetStatus{Fleet: "edge", Connected: 1, Nodes: []xds.NodeStatus{{Node: "envoy-edge", Protocol: "delta", AckedRevision: rev, Current: current}}}
		if current {
			fs.Current = 1
		}
		return fs
	}
	ack(*in.within(t, 5*time.Second))
	fleetIs(t, cp, "edge", node(st.Rev, true), st.Rev)

	other := withSite(st, "partial.example.com", func(s *pb.Site) { s.CaIds = []string{"ca-partners"} })
	cp.srv.Update(model.Compile(other, nil))
	fleetIs(t, cp, "edge", node(other.Rev, true), other.Rev)

	mine := withSite(other, "full.example.com", func(s *pb.Site) { s.CaIds = []string{"ca-partners", "ca-employees"} })
	cp.srv.Update(model.Compile(mine, nil))
	pushed := in.within(t, 5*time.Second)
	if pushed == nil {
		t.Fatal("no push of the changed secret")
	}
	// Not current: its revision is that of the last response it
	// acknowledged (the first; the second sent it nothing).
	fleetIs(t, cp, "edge", node(st.Rev, false), mine.Rev)
	ack(*pushed)
	fleetIs(t, cp, "edge", node(mine.Rev, true), mine.Rev)
}

// TestFleetsOfASite: a site on named fleets lists each, connected or
// not; a site on every fleet lists the fleets with a node connected.
func TestFleetsOfASite(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	cp := startControlPlane(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := adsClient(t, cp.addr).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	fleetIs(t, cp, "edge", xds.FleetStatus{Fleet: "edge", Connected: 1, Nodes: []xds.NodeStatus{{Node: "envoy-edge", Protocol: "sotw"}}}, st.Rev)
	named, _ := cp.srv.Fleets([]string{"core", "edge"})
	if len(named) != 2 || named[0].Fleet != "core" || named[0].Connected != 0 || named[1].Connected != 1 {
		t.Fatalf("named fleets: %+v", named)
	}
	every, _ := cp.srv.Fleets(nil)
	if len(every) != 1 || every[0].Fleet != "edge" {
		t.Fatalf("every fleet: %+v", every)
	}
}

// TestReconnectedNodesAreCurrent: an Envoy reconnecting (to a restarted
// or another control plane) with the configuration served now is current
// at once, though nothing is sent to it: state of the world by the
// version it names, delta by the resource versions it holds.
func TestReconnectedNodesAreCurrent(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "crl.yaml"))
	cp := startControlPlane(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	names := []string{"client-ca/full.example.com", "server/full.example.com"}
	// What a first connection got.
	delta, err := adsClient(t, cp.addr).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := delta.Send(&discovery.DeltaDiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.SecretType, ResourceNamesSubscribe: names}); err != nil {
		t.Fatal(err)
	}
	held := map[string]string{}
	for _, r := range (*listen(delta.Recv).within(t, 5*time.Second)).GetResources() {
		held[r.GetName()] = r.GetVersion()
	}
	sotw, err := adsClient(t, cp.addr).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sotw.Send(&discovery.DiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	version := (*listen(sotw.Recv).within(t, 5*time.Second)).GetVersionInfo()

	cp2 := startControlPlane(t, st)
	delta2, err := adsClient(t, cp2.addr).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := delta2.Send(&discovery.DeltaDiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.SecretType,
		ResourceNamesSubscribe: names, InitialResourceVersions: held}); err != nil {
		t.Fatal(err)
	}
	sotw2, err := adsClient(t, cp2.addr).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sotw2.Send(&discovery.DiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.ClusterType, VersionInfo: version}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fs, _ := cp2.srv.Fleets([]string{"edge"})
		if fs[0].Connected == 2 && fs[0].Current == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reconnected nodes: %+v", fs)
		}
	}
}
