package xds_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

// TestOneBadSiteNeverHoldsUpTheOthers: a site whose configuration fails
// is reported on its own and left out (its requests fail closed), and the
// other sites' changes still reach an ADS client at once. Before, one
// failing piece failed the whole translation and froze every site.
func TestOneBadSiteNeverHoldsUpTheOthers(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	cp := startControlPlane(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := adsClient(t, cp.addr).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := listen(stream.Recv)
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node("edge"), TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	ack := func(r *discovery.DeltaDiscoveryResponse) {
		t.Helper()
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: r.GetNonce()}); err != nil {
			t.Fatal(err)
		}
	}
	first := in.within(t, 5*time.Second)
	if first == nil || len((*first).GetResources()) == 0 {
		t.Fatalf("initial clusters: %v", first)
	}
	ack(*first)

	// app.example.net breaks (its CA is gone) in the same State that
	// moves app.example.com's origin, and a new site is broken from the
	// start.
	next := withSite(st, "app.example.net", func(s *pb.Site) { s.CaIds = []string{"missing-ca"} })
	next = withSite(next, "app.example.com", func(s *pb.Site) { s.OriginUrl = "http://10.0.0.10:9090" })
	broken := &pb.Site{Hostname: "broken.example.com", OriginUrl: "http://10.0.0.12:8080", CaIds: []string{"missing-ca"},
		Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}, ServerCertificate: next.Site("app.example.com").GetServerCertificate()}
	next = store.NewState(next.Rev+1, next.CAs(), append(next.Sites(), broken), next.CRLs())
	cp.srv.Update(model.Compile(next, nil))

	r := in.within(t, time.Second)
	if r == nil {
		t.Fatal("the healthy site's change was not pushed within a second")
	}
	ack(*r)
	var changed []string
	for _, res := range (*r).GetResources() {
		changed = append(changed, res.GetName())
	}
	if !slices.Equal(changed, []string{"origin/app.example.com"}) || !slices.Equal((*r).GetRemovedResources(), []string{"origin/app.example.net"}) {
		t.Fatalf("pushed %v, removed %v; want origin/app.example.com changed and origin/app.example.net gone", changed, (*r).GetRemovedResources())
	}
	if e := cp.srv.SiteStatus("app.example.net").TranslationError; !strings.Contains(e, "left out") || !strings.Contains(e, "missing-ca") {
		t.Fatalf("app.example.net status: %q", e)
	}
	if e := cp.srv.SiteStatus("broken.example.com").TranslationError; !strings.Contains(e, "left out") {
		t.Fatalf("broken.example.com status: %q", e)
	}
	if e := cp.srv.SiteStatus("app.example.com").TranslationError; e != "" {
		t.Fatalf("the healthy site reports %q", e)
	}

	// Repaired, the site is served with its new configuration again.
	cp.srv.Update(model.Compile(withSite(next, "app.example.net", func(s *pb.Site) {
		s.CaIds, s.OriginUrl = st.Site("app.example.net").GetCaIds(), "https://origin2.example.net"
	}), nil))
	if r := in.within(t, time.Second); r == nil || len((*r).GetResources()) != 1 || (*r).GetResources()[0].GetName() != "origin/app.example.net" {
		t.Fatalf("after the repair: %v", r)
	}
	if e := cp.srv.SiteStatus("app.example.net").TranslationError; e != "" {
		t.Fatalf("repaired site reports %q", e)
	}
}

// TestFailingSiteErrors: a failing site is left out and its error is a
// *SiteError naming it; the others are translated.
func TestFailingSiteErrors(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	r := translate(t, withSite(st, "app.example.net", func(s *pb.Site) { s.CaIds = []string{"missing-ca"} }))
	var se *xds.SiteError
	if err := r.SiteErrors["app.example.net"]; !errors.As(err, &se) || se.Host != "app.example.net" {
		t.Fatalf("SiteErrors = %v", r.SiteErrors)
	}
	clusters := marshalAll(t, r.Clusters)
	if _, ok := clusters["origin/app.example.net"]; ok {
		t.Fatal("the failing site was served")
	}
	if _, ok := clusters["origin/app.example.com"]; !ok {
		t.Fatal("a healthy site was left out")
	}
	o := xds.DefaultOptions()
	o.HTTPAddr = "nope"
	if _, err := xds.Translate(st, o); !errors.Is(err, xds.ErrInvalidOptions) {
		t.Fatalf("bad listener address: %v, want ErrInvalidOptions", err)
	}
}
