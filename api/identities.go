package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// CreateIdentity creates an identity (enabled unless said otherwise).
func (s *Server) CreateIdentity(ctx context.Context, r *pb.CreateIdentityRequest) (*pb.Identity, error) {
	id, err := s.store.CreateIdentity(ctx, actor(ctx), r.GetIdentity())
	if err != nil {
		return nil, err
	}
	return s.identityView(s.store.Current(), id), nil
}

// maxIdentityPage bounds a page of ListIdentities.
const maxIdentityPage = 1000

// ListIdentities lists the identities by name, a page at a time, their
// bound certificates without PEM (an account's list would outgrow a
// message otherwise).
func (s *Server) ListIdentities(_ context.Context, r *pb.ListIdentitiesRequest) (*pb.ListIdentitiesResponse, error) {
	limit := int(r.GetLimit())
	if limit < 0 || limit > maxIdentityPage {
		return nil, status.Errorf(codes.InvalidArgument, "limit: must be 0 to %d, got %d", maxIdentityPage, limit)
	}
	if limit == 0 {
		limit = maxIdentityPage
	}
	st := s.store.Current()
	pinned := st.PinnedOnAll()
	out := &pb.ListIdentitiesResponse{}
	for _, id := range st.IdentitiesAfter(r.GetAfter(), limit+1) {
		if len(out.Identities) == limit {
			out.NextAfter = out.Identities[limit-1].GetName()
			break
		}
		v := proto.Clone(id).(*pb.Identity)
		for _, b := range v.GetCertificates() {
			b.CertificatePem = ""
		}
		v.PinnedOn = pinned[id.GetName()]
		out.Identities = append(out.Identities, v)
	}
	return out, nil
}

// GetIdentity returns one identity with the sites whose pins name it.
func (s *Server) GetIdentity(_ context.Context, r *pb.GetIdentityRequest) (*pb.Identity, error) {
	st := s.store.Current()
	id := st.Identity(r.GetName())
	if id == nil {
		return nil, status.Errorf(codes.NotFound, "identity %q not found", r.GetName())
	}
	return s.identityView(st, id), nil
}

// UpdateIdentity changes an identity's comment or enabled flag.
func (s *Server) UpdateIdentity(ctx context.Context, r *pb.UpdateIdentityRequest) (*pb.Identity, error) {
	id, err := s.store.UpdateIdentity(ctx, actor(ctx), r.GetIdentity(), r.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	return s.identityView(s.store.Current(), id), nil
}

// DeleteIdentity removes an identity and its bindings.
func (s *Server) DeleteIdentity(ctx context.Context, r *pb.DeleteIdentityRequest) (*pb.DeleteIdentityResponse, error) {
	if err := s.store.DeleteIdentity(ctx, actor(ctx), r.GetName()); err != nil {
		return nil, err
	}
	return &pb.DeleteIdentityResponse{}, nil
}

// BindCertificate binds a certificate (PEM, DER or PKCS#12) to an
// identity.
func (s *Server) BindCertificate(ctx context.Context, r *pb.BindCertificateRequest) (*pb.Identity, error) {
	id, err := s.store.BindCertificate(ctx, actor(ctx), r.GetName(), r.GetCertificate(), r.GetPkcs12Password())
	if err != nil {
		return nil, err
	}
	return s.identityView(s.store.Current(), id), nil
}

// UnbindCertificate removes a certificate from an identity.
func (s *Server) UnbindCertificate(ctx context.Context, r *pb.UnbindCertificateRequest) (*pb.Identity, error) {
	id, err := s.store.UnbindCertificate(ctx, actor(ctx), r.GetName(), r.GetSha256Fingerprint())
	if err != nil {
		return nil, err
	}
	return s.identityView(s.store.Current(), id), nil
}

// GetAccountSettings returns the account's settings (empty when never
// set: no identity mapping).
func (s *Server) GetAccountSettings(_ context.Context, _ *pb.GetAccountSettingsRequest) (*pb.AccountSettings, error) {
	if a := s.store.Current().AccountSettings(); a != nil {
		return proto.Clone(a).(*pb.AccountSettings), nil
	}
	return &pb.AccountSettings{}, nil
}

// UpdateAccountSettings changes the account's settings named by the mask.
func (s *Server) UpdateAccountSettings(ctx context.Context, r *pb.UpdateAccountSettingsRequest) (*pb.AccountSettings, error) {
	a, err := s.store.UpdateAccountSettings(ctx, actor(ctx), r.GetSettings(), r.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	return proto.Clone(a).(*pb.AccountSettings), nil
}

// identityView is id as the API returns it: a copy with pinned_on filled
// in.
func (s *Server) identityView(st *store.State, id *pb.Identity) *pb.Identity {
	out := proto.Clone(id).(*pb.Identity)
	out.PinnedOn = st.PinnedOn(id.GetName())
	return out
}
