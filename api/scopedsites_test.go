package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// hostnames lists the sites' hostnames.
func hostnames(sites []*pb.Site) []string {
	var out []string
	for _, s := range sites {
		out = append(out, s.GetHostname())
	}
	slices.Sort(out)
	return out
}

// TestScopedTokenSeesOnlyItsSites: a site-manager token lists only the
// sites it is scoped to, over gRPC and JSON; reading or changing another
// site is PERMISSION_DENIED whether that site exists or not (the answer
// does not tell), and its own site's settings it may change. Other roles
// list every site.
func TestScopedTokenSeesOnlyItsSites(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := e.client(e.admin)
	for _, h := range []string{"mine.example.com", "also-mine.example.com", "other.example.com"} {
		if _, err := c.CreateSite(ctx, siteReq(t, h)); err != nil {
			t.Fatal(err)
		}
	}
	secret := func(r *pb.CreateTokenRequest) string {
		resp, err := c.CreateToken(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetSecret()
	}
	one := secret(&pb.CreateTokenRequest{Role: pb.Role_ROLE_SITE_MANAGER, Sites: []string{"mine.example.com"}})
	two := secret(&pb.CreateTokenRequest{Role: pb.Role_ROLE_SITE_MANAGER, Sites: []string{"mine.example.com", "also-mine.example.com"}})
	viewer := secret(&pb.CreateTokenRequest{Role: pb.Role_ROLE_VIEWER})
	for tok, want := range map[string]string{
		one:    "mine.example.com",
		two:    "also-mine.example.com mine.example.com",
		viewer: "also-mine.example.com mine.example.com other.example.com",
	} {
		list, err := e.client(tok).ListSites(ctx, &pb.ListSitesRequest{})
		if err != nil || strings.Join(hostnames(list.GetSites()), " ") != want {
			t.Errorf("ListSites: %v %v, want %s", hostnames(list.GetSites()), err, want)
		}
		code, _, body := e.do(t, tok, "GET", "/v1/sites", "", nil)
		var resp struct{ Sites []struct{ Hostname string } }
		if err := json.Unmarshal(body, &resp); code != 200 || err != nil {
			t.Fatalf("GET /v1/sites: %d %s", code, body)
		}
		var got []string
		for _, s := range resp.Sites {
			got = append(got, s.Hostname)
		}
		if slices.Sort(got); strings.Join(got, " ") != want {
			t.Errorf("GET /v1/sites: %v, want %s", got, want)
		}
	}
	sm := e.client(one)
	if _, err := sm.GetSite(ctx, &pb.GetSiteRequest{Hostname: "mine.example.com"}); err != nil {
		t.Errorf("GetSite of its site: %v", err)
	}
	settings := &pb.UpdateSiteSettingsRequest{Hostname: "mine.example.com",
		Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE}, UpdateMask: []string{"mode"}}
	if _, err := sm.UpdateSiteSettings(ctx, settings); err != nil {
		t.Errorf("UpdateSiteSettings of its site: %v", err)
	}
	for _, host := range []string{"other.example.com", "nope.example.com"} {
		_, err := sm.GetSite(ctx, &pb.GetSiteRequest{Hostname: host})
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "scoped to mine.example.com") {
			t.Errorf("GetSite %s: %v, want PERMISSION_DENIED", host, err)
		}
		if _, err := sm.GetSiteSettings(ctx, &pb.GetSiteRequest{Hostname: host}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("GetSiteSettings %s: %v", host, err)
		}
		settings.Hostname = host
		if _, err := sm.UpdateSiteSettings(ctx, settings); status.Code(err) != codes.PermissionDenied {
			t.Errorf("UpdateSiteSettings %s: %v", host, err)
		}
		if code, _, body := e.do(t, one, "GET", "/v1/sites/"+host, "", nil); code != 403 {
			t.Errorf("GET /v1/sites/%s: %d %s", host, code, body)
		}
	}
}
