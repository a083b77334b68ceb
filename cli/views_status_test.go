package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func TestSiteStatusIsShown(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	site := &pb.Site{Hostname: "a.example.com", Status: &pb.SiteStatus{
		XdsError: "origin URL broken", LastNack: "bad chain", LastNackNode: "edge-1", LastNackAt: timestamppb.New(at)}}
	var b bytes.Buffer
	if err := writeFields(&b, siteFields(site, at)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Status:", "Envoy config error:", "origin URL broken", "Last rejection:", "bad chain", "edge-1 at 2026-11-22T10:00:00Z"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("site show lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	live := &pb.Site{Hostname: "c.example.com", Status: &pb.SiteStatus{ConfigRevision: 42,
		Fleets: []*pb.FleetStatus{{Fleet: "edge", Connected: 2, Current: 1, Nodes: []*pb.NodeStatus{
			{Node: "edge-2", AcknowledgedRevision: 40}, {Node: "edge-1", Current: true, AcknowledgedRevision: 42}}},
			{Fleet: "core"}},
		RecentDecisions: []*pb.DecisionCount{{Result: "allow", Reason: "ok", Count: 120}, {Result: "deny", Reason: "untrusted", Count: 3}},
		RecentWindow:    durationpb.New(15 * time.Minute)}}
	if err := writeFields(&b, siteFields(live, at)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Served revision:", "42", "Envoys (edge):", "1 of 2 current; behind: edge-2 (revision 40)",
		"Envoys (core):", "none connected", "Decisions (15m0s):", "120 allow ok, 3 deny untrusted"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("site show lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	_ = writeFields(&b, siteFields(&pb.Site{Hostname: "b.example.com"}, at))
	if strings.Contains(b.String(), "Status") {
		t.Error("a healthy site shows a status section")
	}
}
