package console

import (
	"fmt"
	"strings"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// statusView is what the data plane made of a site, as the replica that
// answered sees it.
type statusView struct {
	XDSError, AuthzError, Nack, NackNode string
	NackAt                               time.Time
	// Revision is the store revision served to Envoy.
	Revision int64
	Fleets   []fleetView
	// Decisions are the recent Check decisions, most first, over Window.
	Decisions       []*pb.DecisionCount
	Window          string
	Allowed, Denied int64
}

// fleetView is one fleet serving the site.
type fleetView struct {
	Fleet              string
	Connected, Current int32
	Nodes              []nodeView
	// Unlisted is how many connected nodes the API did not list.
	Unlisted int32
}

// nodeView is one connected Envoy node.
type nodeView struct {
	Node, Protocol      string
	Since, Acknowledged time.Time
	Revision            int64
	Current             bool
}

// statusViewOf is the page's view of st.
func statusViewOf(st *pb.SiteStatus) statusView {
	v := statusView{XDSError: st.GetXdsError(), AuthzError: st.GetAuthzError(), Nack: st.GetLastNack(),
		NackNode: st.GetLastNackNode(), NackAt: st.GetLastNackAt().AsTime(), Revision: st.GetConfigRevision(),
		Decisions: st.GetRecentDecisions()}
	if w := st.GetRecentWindow().AsDuration(); w > 0 {
		v.Window = w.String()
		if w%time.Minute == 0 {
			v.Window = fmt.Sprintf("%d minutes", w/time.Minute)
		}
	}
	for _, d := range st.GetRecentDecisions() {
		if d.GetResult() == "allow" {
			v.Allowed += d.GetCount()
		} else {
			v.Denied += d.GetCount()
		}
	}
	for _, f := range st.GetFleets() {
		fv := fleetView{Fleet: f.GetFleet(), Connected: f.GetConnected(), Current: f.GetCurrent(),
			Unlisted: f.GetConnected() - int32(len(f.GetNodes()))}
		for _, n := range f.GetNodes() {
			nv := nodeView{Node: n.GetNode(), Protocol: n.GetProtocol(), Since: n.GetConnectedAt().AsTime(),
				Revision: n.GetAcknowledgedRevision(), Current: n.GetCurrent()}
			if n.GetAcknowledgedAt() != nil {
				nv.Acknowledged = n.GetAcknowledgedAt().AsTime()
			}
			fv.Nodes = append(fv.Nodes, nv)
		}
		v.Fleets = append(v.Fleets, fv)
	}
	return v
}

// envoysText sums up fleets for the sites list: "edge: 2 of 3 current",
// "core: none connected"; "none connected" when no fleet has a node.
func envoysText(fleets []*pb.FleetStatus) string {
	var parts []string
	for _, f := range fleets {
		if f.GetConnected() == 0 {
			parts = append(parts, f.GetFleet()+": none connected")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %d of %d current", f.GetFleet(), f.GetCurrent(), f.GetConnected()))
	}
	if len(parts) == 0 {
		return "none connected"
	}
	return strings.Join(parts, "; ")
}
