package nodeid_test

import (
	"testing"

	"github.com/mtlsgate/mtlsgate/nodeid"
)

// FuzzParse: Parse never panics, accepts only what round-trips, and what it
// accepts validates.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"spiffe://mtlsgate/fleet/eu/node/edge-1",
		nodeid.ServerURI,
		"spiffe://mtlsgate/fleet//node/",
		"spiffe://mtlsgate/fleet/a/node/b/node/c",
		"spiffe://mtlsgate/fleet/%2e%2e/node/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := nodeid.Parse(s)
		if err != nil {
			return
		}
		if id.URI() != s {
			t.Fatalf("Parse(%q) = %v, whose URI is %q", s, id, id.URI())
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted an invalid identity: %v", s, err)
		}
	})
}
