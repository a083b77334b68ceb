package xds

import (
	"slices"
	"testing"
	"time"

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
