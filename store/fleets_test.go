package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

func TestSiteFleetsAreValidatedSortedAndChangedOnlyWhenNamed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	in := siteFor(t, "eu.example.com")
	in.Fleets = []string{"eu-west", "eu-central", "eu-west"}
	site, err := f.s.CreateSite(ctx, admin, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"eu-central", "eu-west"}; !slices.Equal(site.GetFleets(), want) {
		t.Fatalf("fleets %v, want %v", site.GetFleets(), want)
	}
	// An update whose mask does not name fleets leaves them (and one
	// without a mask is refused): it must never widen where the key goes.
	site, err = f.s.UpdateSite(ctx, admin, &pb.Site{Hostname: "eu.example.com", OriginUrl: "http://10.0.0.9",
		ServerCertificate: site.GetServerCertificate(), Settings: site.GetSettings()}, []string{"origin_url", "settings", "server_certificate"})
	if err != nil {
		t.Fatal(err)
	}
	if len(site.GetFleets()) != 2 {
		t.Fatalf("an update not naming fleets dropped them: %v", site.GetFleets())
	}
	if _, err := f.s.UpdateSite(ctx, admin, &pb.Site{Hostname: "eu.example.com"}, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("update without a mask: %v", err)
	}
	if got := f.s.Current().Site("eu.example.com").GetFleets(); len(got) != 2 {
		t.Fatalf("a refused update changed the fleets: %v", got)
	}
	site, err = f.s.UpdateSite(ctx, admin, &pb.Site{Hostname: "eu.example.com", Fleets: []string{"us"}}, []string{"fleets"})
	if err != nil || !slices.Equal(site.GetFleets(), []string{"us"}) {
		t.Fatalf("update fleets: %v, %v", site.GetFleets(), err)
	}
	site, err = f.s.UpdateSite(ctx, admin, &pb.Site{Hostname: "eu.example.com"}, []string{"fleets"})
	if err != nil || len(site.GetFleets()) != 0 {
		t.Fatalf("clearing fleets (every fleet): %v, %v", site.GetFleets(), err)
	}
}

func TestSiteFleetsRefuseBadNames(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	many := make([]string, store.MaxFleetsPerSite+1)
	for i := range many {
		many[i] = fmt.Sprintf("f%d", i)
	}
	cases := []struct {
		name   string
		fleets []string
		class  error
		msg    string
	}{
		{"empty name", []string{""}, store.ErrInvalid, "fleets[0]"},
		{"dot", []string{"ok", "."}, store.ErrInvalid, "fleets[1]"},
		{"dot dot", []string{".."}, store.ErrInvalid, "fleets[0]"},
		{"slash", []string{"eu/west"}, store.ErrInvalid, "fleets[0]"},
		{"space", []string{"eu west"}, store.ErrInvalid, "fleets[0]"},
		{"non-ascii", []string{"é"}, store.ErrInvalid, "fleets[0]"},
		{"too long", []string{strings.Repeat("a", 129)}, store.ErrInvalid, "fleets[0]"},
		{"too many", many, store.ErrLimit, "fleets"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.s.Current()
			_, err := f.s.UpdateSite(ctx, admin, &pb.Site{Hostname: "app.example.com", Fleets: c.fleets}, []string{"fleets"})
			if !errors.Is(err, c.class) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %v naming %q", err, c.class, c.msg)
			}
			unchanged(t, f.s, before)
			in := siteFor(t, "new.example.com")
			in.Fleets = c.fleets
			if _, err := f.s.CreateSite(ctx, admin, in); !errors.Is(err, c.class) {
				t.Fatalf("create: err = %v, want %v", err, c.class)
			}
			unchanged(t, f.s, before)
		})
	}
	if _, err := f.s.UpdateSite(ctx, admin, &pb.Site{Hostname: "app.example.com", Fleets: []string{strings.Repeat("a", 128), "a.b_c~d-E9"}}, []string{"fleets"}); err != nil {
		t.Fatalf("valid names refused: %v", err)
	}
}
