package xds

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestNackNamesSitesExactly: a NACK is attributed to the sites whose
// resource names it mentions, read back whole. Before, names were found
// by substring: a rejection of server/a.com.au also marked a.com.
func TestNackNamesSitesExactly(t *testing.T) {
	st := store.NewState(1, nil, []*pb.Site{{Hostname: "a.com"}, {Hostname: "a.com.au"}, {Hostname: "*.b.org"}, {Hostname: "b.org"}}, nil)
	cases := []struct {
		msg  string
		want []string
	}{
		{"Failed to load certificate chain from secret server/a.com.au", []string{"a.com.au"}},
		{"cluster 'origin/a.com': bad address", []string{"a.com"}},
		{"Error in route configuration https/a.com.", []string{"a.com"}},
		{"filter chain site/*.b.org and client-ca/b.org: invalid", []string{"*.b.org", "b.org"}},
		{"server/a.com.au server/a.com", []string{"a.com.au", "a.com"}},
		{"myserver/a.com and origin/c.com", nil},        // inside a word; an unknown site
		{"origin/A.COM: upper case is not a site", nil}, // hostnames are stored lower case
		{"", nil},
	}
	for _, c := range cases {
		b := newStatusBook()
		b.setTranslation(st, nil)
		b.recordNack("edge-1", c.msg, time.Now())
		var got []string
		for _, h := range []string{"a.com", "a.com.au", "*.b.org", "b.org"} {
			if b.get(h).LastNack != "" {
				got = append(got, h)
			}
		}
		want := slices.Clone(c.want)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%q marks %v, want %v", c.msg, got, want)
		}
	}
}

// TestPieceEnvoyWouldRefuseFailsOnlyItsSite: a site with a piece Envoy
// would refuse (a resource failing validation) is left out with its error,
// and the sites beside it are served. Before, such a piece failed the
// whole translation, and no site's change reached Envoy until it was fixed.
func TestPieceEnvoyWouldRefuseFailsOnlyItsSite(t *testing.T) {
	good := &siteEntry{site: &model.Site{Host: "a.com", Msg: &pb.Site{Hostname: "a.com"}}, out: &builtSite{}}
	bad := &siteEntry{site: &model.Site{Host: "b.com", Msg: &pb.Site{Hostname: "b.com"}}, out: &builtSite{}}
	bad.out.invalid[kindRoute] = errors.New("invalid RouteConfiguration")
	failed := &siteEntry{site: &model.Site{Host: "c.com", Msg: &pb.Site{Hostname: "c.com"}}, err: errors.New("client CA ca-9 does not exist")}
	errs := map[string]error{}
	served := serve([]*siteEntry{good, bad, failed}, errs)
	if len(served) != 1 || served[0] != good {
		t.Fatalf("served %d entries, want a.com alone", len(served))
	}
	var se *SiteError
	if !errors.As(errs["b.com"], &se) || se.Host != "b.com" || !strings.Contains(se.Error(), "invalid RouteConfiguration") {
		t.Fatalf("b.com: %v", errs["b.com"])
	}
	if errs["c.com"] == nil || errs["a.com"] != nil || len(errs) != 2 {
		t.Fatalf("errors: %v", errs)
	}
}

// TestNackTextIsBounded: a NACK's message comes from the peer; only its
// first maxNackText bytes are kept, logged and read for site names, cut at
// a rune boundary.
func TestNackTextIsBounded(t *testing.T) {
	huge := strings.Repeat("server/a.com é ", 1<<20)
	got := clipNack(huge)
	if len(got) > maxNackText+len("…") || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
		t.Fatalf("clipped to %d bytes (valid UTF-8: %v)", len(got), utf8.ValidString(got))
	}
	if short := "server/a.com: bad"; clipNack(short) != short {
		t.Fatal("a short message was changed")
	}
	names := strings.Builder{}
	for i := range 2000 {
		fmt.Fprintf(&names, "origin/h%d.example.com ", i)
	}
	if n := len(hostsNamed(names.String())); n != 2000 {
		t.Fatalf("%d hosts named, want 2000", n)
	}
}
