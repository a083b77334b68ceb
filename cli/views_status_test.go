package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

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
	_ = writeFields(&b, siteFields(&pb.Site{Hostname: "b.example.com"}, at))
	if strings.Contains(b.String(), "Status") {
		t.Error("a healthy site shows a status section")
	}
}
