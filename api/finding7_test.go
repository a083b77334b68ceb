package api_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// enforcingSite creates host in enforce mode with one CA and one pin, the
// state finding 7's unmasked update used to wipe.
func enforcingSite(t *testing.T, c pb.CertificateManagerServiceClient, host string) *pb.Site {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateSite(ctx, siteReq(t, host)); err != nil {
		t.Fatal(err)
	}
	ca, err := c.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: "ca-" + host,
		Bundle: testpki.NewRoot(t, "Clients "+host, testpki.Options{}).PEM(), Sites: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateSiteSettings(ctx, &pb.UpdateSiteSettingsRequest{Hostname: host,
		Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE,
			Pins: []*pb.Pin{{Sha256Fingerprint: strings.Repeat("ab", 32), Identity: "svc"}}},
		UpdateMask: []string{"mode", "pins"}}); err != nil {
		t.Fatal(err)
	}
	site, err := c.GetSite(ctx, &pb.GetSiteRequest{Hostname: host})
	if err != nil || site.GetSettings().GetMode() != pb.Mode_MODE_ENFORCE || len(site.GetCaIds()) != 1 || site.GetCaIds()[0] != ca.GetId() {
		t.Fatalf("setup: %v %v", site, err)
	}
	return site
}

// assertSiteKept fails when the site's mode, CAs, pins or settings moved.
func assertSiteKept(t *testing.T, c pb.CertificateManagerServiceClient, want *pb.Site) {
	t.Helper()
	got, err := c.GetSite(context.Background(), &pb.GetSiteRequest{Hostname: want.GetHostname()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetSettings().GetMode() != pb.Mode_MODE_ENFORCE || !proto.Equal(got.GetSettings(), want.GetSettings()) ||
		strings.Join(got.GetCaIds(), ",") != strings.Join(want.GetCaIds(), ",") || got.GetOriginUrl() != want.GetOriginUrl() {
		t.Fatalf("unmasked update changed the site:\n got %v\nwant %v", got, want)
	}
}

// TestFinding7_UnmaskedUpdateIsRefused: an update that names no field used
// to replace every field, so a PATCH carrying a certificate and an origin
// turned enforcement off and dropped the site's CAs. It is now refused on
// both transports and changes nothing; a masked one changes only what it
// names.
func TestFinding7_UnmaskedUpdateIsRefused(t *testing.T) {
	e := start(t)
	c := e.client(e.admin)
	ctx := context.Background()
	want := enforcingSite(t, c, "app.example.com")
	fresh := siteReq(t, "app.example.com").GetSite()
	fresh.OriginUrl = "https://10.9.9.9"

	// gRPC, UpdateSite and UpdateSiteSettings without a mask.
	_, err := c.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: fresh})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "update_mask") {
		t.Fatalf("gRPC UpdateSite without a mask: %v, want InvalidArgument naming update_mask", err)
	}
	_, err = c.UpdateSiteSettings(ctx, &pb.UpdateSiteSettingsRequest{Hostname: "app.example.com",
		Settings: &pb.ClientCertSettings{HttpRedirect: proto.Bool(true)}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "update_mask") {
		t.Fatalf("gRPC UpdateSiteSettings without a mask: %v", err)
	}
	assertSiteKept(t, c, want)

	// JSON: the finding's request, and the settings one.
	body, _ := protojson.Marshal(&pb.UpdateSiteRequest{Site: fresh})
	code, _, resp := e.do(t, e.admin, "PATCH", "/v1/sites/app.example.com", "application/json", body)
	assertError(t, code, resp, 400, "invalid_argument")
	if !strings.Contains(string(resp), "update_mask") {
		t.Fatalf("refusal does not name update_mask: %s", resp)
	}
	code, _, resp = e.do(t, e.admin, "PATCH", "/v1/sites/app.example.com/settings", "application/json",
		[]byte(`{"settings": {"http_redirect": true}}`))
	assertError(t, code, resp, 400, "invalid_argument")
	assertSiteKept(t, c, want)

	// With a mask, the certificate and origin change and nothing else.
	body, _ = protojson.Marshal(&pb.UpdateSiteRequest{Site: fresh, UpdateMask: []string{"server_certificate", "origin_url"}})
	code, _, resp = e.do(t, e.admin, "PATCH", "/v1/sites/app.example.com", "application/json", body)
	if code != 200 {
		t.Fatalf("masked update: %d %s", code, resp)
	}
	want.OriginUrl = "https://10.9.9.9"
	assertSiteKept(t, c, want)

	// Refusals are audited like any refused mutation.
	evs, err := c.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, ev := range evs.GetEvents() {
		if strings.HasPrefix(ev.GetAction(), "UpdateSite") && ev.GetResult() == "invalid_argument" {
			refused++
		}
	}
	if refused != 4 {
		t.Fatalf("%d refused updates audited, want 4", refused)
	}
}
