package xds_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mtlsgate/mtlsgate/internal/promtest"
	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

// controlPlane runs an xds.Server on loopback.
type controlPlane struct {
	srv     *xds.Server
	addr    string
	metrics *prometheus.Registry
}

func startControlPlane(t *testing.T, st *store.State) *controlPlane {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg := prometheus.NewRegistry()
	s := xds.NewServer(ctx, xds.DefaultOptions(), nil, xds.NewMetrics(reg))
	s.Update(model.Compile(st, nil))
	g := grpc.NewServer()
	s.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	t.Cleanup(func() { g.Stop(); cancel() })
	return &controlPlane{srv: s, addr: ln.Addr().String(), metrics: reg}
}

func adsClient(t *testing.T, addr string) discovery.AggregatedDiscoveryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return discovery.NewAggregatedDiscoveryServiceClient(conn)
}

// inbox receives a stream's responses on one goroutine (gRPC streams take
// one Recv at a time), so that tests can wait for the next with a bound.
type inbox[T any] struct {
	ch   chan T
	errc chan error
}

func listen[T any](recv func() (T, error)) *inbox[T] {
	b := &inbox[T]{ch: make(chan T, 16), errc: make(chan error, 1)}
	go func() {
		for {
			r, err := recv()
			if err != nil {
				b.errc <- err
				return
			}
			b.ch <- r
		}
	}()
	return b
}

// within returns the next response, or nil when none comes in d.
func (b *inbox[T]) within(t *testing.T, d time.Duration) *T {
	t.Helper()
	select {
	case r := <-b.ch:
		return &r
	case err := <-b.errc:
		t.Fatalf("stream: %v", err)
	case <-time.After(d):
	}
	return nil
}

func node(cluster string) *core.Node { return &core.Node{Id: "envoy-" + cluster, Cluster: cluster} }

func TestSotWPushesAndRestartResendsNothing(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	cp := startControlPlane(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := adsClient(t, cp.addr).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streamIn := listen(stream.Recv)
	req := &discovery.DiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.ListenerType}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	first := streamIn.within(t, 5*time.Second)
	if first == nil || len((*first).GetResources()) != 2 || (*first).GetVersionInfo() == "" {
		t.Fatalf("first response: %v", first)
	}
	// ACK, then change a mode: the listener is pushed again.
	ack := &discovery.DiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.ListenerType,
		VersionInfo: (*first).GetVersionInfo(), ResponseNonce: (*first).GetNonce()}
	if err := stream.Send(ack); err != nil {
		t.Fatal(err)
	}
	cp.srv.Update(model.Compile(withSite(st, "app.example.net", func(s *pb.Site) { s.Settings.Mode = pb.Mode_MODE_ENFORCE }), nil))
	second := streamIn.within(t, 5*time.Second)
	if second == nil || (*second).GetVersionInfo() == (*first).GetVersionInfo() {
		t.Fatalf("no push after a mode change: %v", second)
	}
	// A restarted control plane offers the very same version: an Envoy
	// resuming with it is sent nothing, and still gets later changes.
	cp2 := startControlPlane(t, st)
	stream2, err := adsClient(t, cp2.addr).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream2In := listen(stream2.Recv)
	if err := stream2.Send(&discovery.DiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.ListenerType,
		VersionInfo: (*first).GetVersionInfo()}); err != nil {
		t.Fatal(err)
	}
	if r := stream2In.within(t, 500*time.Millisecond); r != nil {
		t.Fatalf("restarted control plane re-sent version %s", (*r).GetVersionInfo())
	}
	cp2.srv.Update(model.Compile(withSite(st, "app.example.net", func(s *pb.Site) { s.Settings.Mode = pb.Mode_MODE_ENFORCE }), nil))
	if r := stream2In.within(t, 5*time.Second); r == nil || (*r).GetVersionInfo() == (*first).GetVersionInfo() {
		t.Fatalf("the resumed stream missed a change: %v", r)
	}
}

// TestDeltaRestart: an Envoy reconnecting to a restarted control plane
// tells it the versions it holds, and nothing unchanged is sent again.
func TestDeltaRestart(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := map[string]string{}
	for i := range 2 {
		cp := startControlPlane(t, st)
		stream, err := adsClient(t, cp.addr).DeltaAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		streamIn := listen(stream.Recv)
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.ClusterType,
			InitialResourceVersions: held}); err != nil {
			t.Fatal(err)
		}
		r := streamIn.within(t, time.Second)
		if i == 0 {
			if want := len(translate(t, st).Clusters); r == nil || len((*r).GetResources()) != want {
				t.Fatalf("first connection: %v, want %d clusters", r, want)
			}
			for _, res := range (*r).GetResources() {
				held[res.GetName()] = res.GetVersion()
			}
			continue
		}
		if r != nil && len((*r).GetResources()) > 0 {
			t.Fatalf("restarted control plane re-sent %d clusters", len((*r).GetResources()))
		}
	}
}

func TestDeltaSendsOnlyChangedResources(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "crl.yaml"))
	cp := startControlPlane(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := adsClient(t, cp.addr).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streamIn := listen(stream.Recv)
	names := []string{"client-ca/full.example.com", "client-ca/partial.example.com", "server/full.example.com"}
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.SecretType,
		ResourceNamesSubscribe: names}); err != nil {
		t.Fatal(err)
	}
	first := streamIn.within(t, 5*time.Second)
	if first == nil || len((*first).GetResources()) != 3 {
		t.Fatalf("first delta response: %v", first)
	}
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.SecretType, ResponseNonce: (*first).GetNonce()}); err != nil {
		t.Fatal(err)
	}
	cp.srv.Update(model.Compile(withSite(st, "partial.example.com", func(s *pb.Site) { s.CaIds = []string{"ca-partners"} }), nil))
	second := streamIn.within(t, 5*time.Second)
	if second == nil {
		t.Fatal("no delta push after a CA change")
	}
	got := (*second).GetResources()
	if len(got) != 1 || got[0].GetName() != "client-ca/partial.example.com" {
		t.Fatalf("delta pushed %d resources (%v); want only the changed secret", len(got), got)
	}
}

func TestNackIsLoggedCountedAndShownOnTheSite(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	cp := startControlPlane(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := adsClient(t, cp.addr).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streamIn := listen(stream.Recv)
	// Like Envoy, ask for every secret the listeners name.
	var secrets []string
	for _, sec := range translate(t, st).Secrets {
		secrets = append(secrets, sec.GetName())
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.SecretType,
		ResourceNames: secrets}); err != nil {
		t.Fatal(err)
	}
	first := streamIn.within(t, 5*time.Second)
	if first == nil {
		t.Fatal("no secret response")
	}
	msg := "Failed to load certificate chain from <inline> for server/app.example.com"
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.SecretType,
		ResourceNames: secrets, ResponseNonce: (*first).GetNonce(),
		ErrorDetail: &statuspb.Status{Code: 3, Message: msg}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cp.srv.SiteStatus("app.example.com").LastNack == "" {
		if time.Now().After(deadline) {
			t.Fatal("the NACK never reached the site's status")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := cp.srv.SiteStatus("app.example.com"); !strings.Contains(st.LastNack, "certificate chain") || st.LastNackNode != "envoy-edge" {
		t.Fatalf("status %+v", st)
	}
	if cp.srv.SiteStatus("app.example.net").LastNack != "" {
		t.Fatal("a NACK naming one site was pinned on another")
	}
	if n := promtest.Sum(t, cp.metrics, "mtlsgate_xds_nacks_total"); n != 1 {
		t.Fatalf("nacks counted: %v", n)
	}
}

func TestEveryFleetGetsTheSites(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	cp := startControlPlane(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, fleet := range []string{"eu", "us", ""} {
		stream, err := adsClient(t, cp.addr).StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		streamIn := listen(stream.Recv)
		if err := stream.Send(&discovery.DiscoveryRequest{Node: node(fleet), TypeUrl: resourcev3.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if r := streamIn.within(t, 5*time.Second); r == nil || len((*r).GetResources()) != len(translate(t, st).Clusters) {
			t.Fatalf("fleet %q: %v", fleet, r)
		}
	}
}
