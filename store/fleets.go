package store

import (
	"fmt"

	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// MaxFleetsPerSite bounds the fleets one site is placed on.
const MaxFleetsPerSite = 64

// normalizeFleets checks the fleets a site is placed on and sorts them,
// without duplicates. No fleet means every fleet. Names follow node
// certificates' fleet names (nodeid.CheckName), so that a site can only
// name a fleet a node can belong to.
func normalizeFleets(site *pb.Site) error {
	if len(site.GetFleets()) > MaxFleetsPerSite {
		return fmt.Errorf("%w: site %s would be on %d fleets (limit %d)", ErrLimit, site.GetHostname(), len(site.GetFleets()), MaxFleetsPerSite)
	}
	for i, f := range site.GetFleets() {
		if err := nodeid.CheckName("fleet", f); err != nil {
			return &ValidationError{Field: fmt.Sprintf("fleets[%d]", i), Err: err}
		}
	}
	site.Fleets = uniqueSorted(site.GetFleets())
	return nil
}
