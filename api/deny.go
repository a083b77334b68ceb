package api

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// CreateDenyEntry adds a certificate to the denylist: ext_authz refuses it
// (reason denied) from the next policy on.
func (s *Server) CreateDenyEntry(ctx context.Context, r *pb.CreateDenyEntryRequest) (*pb.DenyEntry, error) {
	e, err := s.store.CreateDenyEntry(ctx, actor(ctx), r.GetEntry())
	if err != nil {
		return nil, err
	}
	return proto.Clone(e).(*pb.DenyEntry), nil
}

// ListDenyEntries lists the denylist, sorted by id: with site, that site's
// entries and the account-wide ones. A site-manager token sees the entries
// of its sites and the account-wide ones, and may name only its sites.
func (s *Server) ListDenyEntries(ctx context.Context, r *pb.ListDenyEntriesRequest) (*pb.ListDenyEntriesResponse, error) {
	tok := callerFrom(ctx).token
	scoped := tok.GetRole() == pb.Role_ROLE_SITE_MANAGER
	if scoped && r.GetSite() != "" && !slices.Contains(tok.GetSites(), r.GetSite()) {
		return nil, status.Errorf(codes.PermissionDenied, "role site-manager may not call ListDenyEntries on %s (token is scoped to %v)", r.GetSite(), tok.GetSites())
	}
	out := &pb.ListDenyEntriesResponse{}
	for _, e := range s.store.Current().DenyEntries() {
		site := e.GetSite()
		if site != "" && (r.GetSite() != "" && site != r.GetSite() || scoped && !slices.Contains(tok.GetSites(), site)) {
			continue
		}
		out.Entries = append(out.Entries, proto.Clone(e).(*pb.DenyEntry))
	}
	return out, nil
}

// DeleteDenyEntry removes an entry from the denylist.
func (s *Server) DeleteDenyEntry(ctx context.Context, r *pb.DeleteDenyEntryRequest) (*pb.DeleteDenyEntryResponse, error) {
	if r.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id: must not be empty")
	}
	if err := s.store.DeleteDenyEntry(ctx, actor(ctx), r.GetId(), r.GetSite()); err != nil {
		return nil, err
	}
	return &pb.DeleteDenyEntryResponse{}, nil
}

// denySite is the site a deny call names, for a site-manager's scope.
func denySite(site string) []string {
	if site == "" {
		return nil // account-wide: not a site-manager's to change
	}
	return []string{site}
}

// denyObject is the audit object of a refused CreateDenyEntry: what the
// entry would have named and where.
func denyObject(r any) store.Ref {
	e := r.(*pb.CreateDenyEntryRequest).GetEntry()
	if fp, ok := store.NormalizeFingerprint(e.GetSha256Fingerprint()); ok {
		e = &pb.DenyEntry{Sha256Fingerprint: fp, Site: e.GetSite(), ExpiresAt: e.GetExpiresAt()}
	}
	return store.Ref("deny/new " + store.DenyEntrySummary(e))
}
