package server

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/authz"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/xds"
)

// siteStatus merges what xDS and ext_authz know about a site: the
// configuration errors, the last rejection, the nodes of its fleets and
// the recent decisions, all as this replica sees them.
func (s *Server) siteStatus(host string) *pb.SiteStatus {
	x := s.xds.SiteStatus(host)
	out := &pb.SiteStatus{XdsError: x.TranslationError, AuthzError: s.authz.SiteError(host),
		LastNack: x.LastNack, LastNackNode: x.LastNackNode, ConfigRevision: x.Revision}
	if !x.LastNackAt.IsZero() {
		out.LastNackAt = timestamppb.New(x.LastNackAt)
	}
	for _, f := range x.Fleets {
		out.Fleets = append(out.Fleets, fleetStatusOut(f))
	}
	if ds := s.authz.RecentDecisions(host); len(ds) > 0 {
		out.RecentWindow = durationpb.New(authz.RecentWindow)
		for _, d := range ds {
			out.RecentDecisions = append(out.RecentDecisions, &pb.DecisionCount{Result: d.Result, Reason: d.Reason, Count: d.Count})
		}
	}
	if proto.Equal(out, &pb.SiteStatus{}) {
		return nil
	}
	return out
}

// fleetStatusOut is a fleet's status in the API's terms.
func fleetStatusOut(f xds.FleetStatus) *pb.FleetStatus {
	out := &pb.FleetStatus{Fleet: f.Fleet, Connected: int32(f.Connected), Current: int32(f.Current)}
	for _, n := range f.Nodes {
		ns := &pb.NodeStatus{Node: n.Node, Protocol: n.Protocol, ConnectedAt: timestamppb.New(n.ConnectedAt),
			AcknowledgedRevision: n.AckedRevision, Current: n.Current}
		if !n.AckedAt.IsZero() {
			ns.AcknowledgedAt = timestamppb.New(n.AckedAt)
		}
		out.Nodes = append(out.Nodes, ns)
	}
	return out
}
