package cli

import (
	"fmt"
	"strings"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// liveFields renders what the answering replica sees of a site live: the
// revision it serves, each fleet's Envoys (the nodes behind named), and
// the recent decisions.
func liveFields(st *pb.SiteStatus) []field {
	var f []field
	if st.GetConfigRevision() != 0 {
		f = append(f, field{key: "Served revision", value: fmt.Sprint(st.GetConfigRevision())})
	}
	for _, fl := range st.GetFleets() {
		f = append(f, field{key: "Envoys (" + fl.GetFleet() + ")", value: fleetText(fl)})
	}
	if len(st.GetRecentDecisions()) > 0 {
		var parts []string
		for _, d := range st.GetRecentDecisions() {
			parts = append(parts, fmt.Sprintf("%d %s %s", d.GetCount(), d.GetResult(), d.GetReason()))
		}
		f = append(f, field{key: "Decisions (" + st.GetRecentWindow().AsDuration().String() + ")", value: strings.Join(parts, ", ")})
	}
	return f
}

// fleetText is "2 of 3 current; behind: edge-3 (revision 40)".
func fleetText(fl *pb.FleetStatus) string {
	if fl.GetConnected() == 0 {
		return "none connected"
	}
	out := fmt.Sprintf("%d of %d current", fl.GetCurrent(), fl.GetConnected())
	var behind []string
	for _, n := range fl.GetNodes() {
		if !n.GetCurrent() {
			behind = append(behind, fmt.Sprintf("%s (revision %d)", n.GetNode(), n.GetAcknowledgedRevision()))
		}
	}
	if len(behind) > 0 {
		out += "; behind: " + strings.Join(behind, ", ")
	}
	return out
}
