package authz

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/nodeid"
)

// What other node-facing services of the control plane (Envoy's access
// logs) read of the Service: the site a host name falls under, whether a
// site still exists, and the node admission Check applies.

// SiteOf is the key of the site that host (an SNI or an :authority, with
// or without a port) falls under in the policy in use: the exact name,
// else the one-label wildcard; "" when none.
func (s *Service) SiteOf(host string) string {
	if p := s.table.Load().lookup(extract.Host(host)); p != nil {
		return p.key
	}
	return ""
}

// HasSite reports whether the policy in use has the site with key.
func (s *Service) HasSite(key string) bool { return s.table.Load().sites[key] != nil }

// Admit applies Check's node admission to the caller of another
// node-facing gRPC service: with node identities required, the caller
// must hold a verified node certificate that the State of the policy in
// use does not revoke, and Admit returns its identity; otherwise any
// caller is admitted with the zero Identity. A refusal is a gRPC status
// error (Unauthenticated, Unavailable before the first policy,
// PermissionDenied). Unlike Check's refusals, Admit's are neither counted
// nor logged here: the calling service does both.
func (s *Service) Admit(ctx context.Context) (nodeid.Identity, error) {
	if !s.requireNode {
		return nodeid.Identity{}, nil
	}
	t := s.table.Load()
	n, err := s.peers.node(ctx)
	switch {
	case err != nil:
		return nodeid.Identity{}, status.Error(codes.Unauthenticated, fmt.Sprintf("a node certificate issued by mtlsgate is required: %v", err))
	case t.nodes == nil:
		return nodeid.Identity{}, status.Error(codes.Unavailable, "no policy yet")
	case !t.nodes.state.NodeServable(n.serial, s.now()):
		return nodeid.Identity{}, status.Error(codes.PermissionDenied, "the node certificate is revoked, expired or unknown")
	}
	return n.id, nil
}
