package api

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// CreateSite creates a site.
func (s *Server) CreateSite(ctx context.Context, r *pb.CreateSiteRequest) (*pb.Site, error) {
	if r.GetSite() == nil {
		return nil, status.Error(codes.InvalidArgument, "site: is required")
	}
	site, err := s.store.CreateSite(ctx, actor(ctx), r.GetSite())
	if err != nil {
		return nil, err
	}
	return s.siteOut(site), nil
}

// UpdateSite changes the fields of a site named by the update mask.
func (s *Server) UpdateSite(ctx context.Context, r *pb.UpdateSiteRequest) (*pb.Site, error) {
	if r.GetSite() == nil {
		return nil, status.Error(codes.InvalidArgument, "site: is required")
	}
	site, err := s.store.UpdateSite(ctx, actor(ctx), r.GetSite(), r.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	return s.siteOut(site), nil
}

// ListSites lists the sites the caller may read.
func (s *Server) ListSites(ctx context.Context, _ *pb.ListSitesRequest) (*pb.ListSitesResponse, error) {
	tok := callerFrom(ctx).token
	out := &pb.ListSitesResponse{}
	for _, site := range s.store.Current().Sites() {
		if tok.GetRole() == pb.Role_ROLE_SITE_MANAGER && !slices.Contains(tok.GetSites(), site.GetHostname()) {
			continue
		}
		o := s.siteOut(site)
		// The counts of each fleet, not its nodes: a list of thousands
		// of sites stays small. GetSite lists the nodes.
		for _, f := range o.GetStatus().GetFleets() {
			f.Nodes = nil
		}
		out.Sites = append(out.Sites, o)
	}
	return out, nil
}

// GetSite shows one site.
func (s *Server) GetSite(ctx context.Context, r *pb.GetSiteRequest) (*pb.Site, error) {
	site := s.store.Current().Site(r.GetHostname())
	if site == nil {
		return nil, status.Errorf(codes.NotFound, "site %q not found", r.GetHostname())
	}
	return s.siteOut(site), nil
}

// DeleteSite deletes a site.
func (s *Server) DeleteSite(ctx context.Context, r *pb.DeleteSiteRequest) (*pb.DeleteSiteResponse, error) {
	if err := s.store.DeleteSite(ctx, actor(ctx), r.GetHostname()); err != nil {
		return nil, err
	}
	return &pb.DeleteSiteResponse{}, nil
}

// AssignSiteCAs assigns client CAs to a site.
func (s *Server) AssignSiteCAs(ctx context.Context, r *pb.SiteCAsRequest) (*pb.Site, error) {
	return s.assignSite(ctx, r, true)
}

// UnassignSiteCAs unassigns client CAs from a site.
func (s *Server) UnassignSiteCAs(ctx context.Context, r *pb.SiteCAsRequest) (*pb.Site, error) {
	return s.assignSite(ctx, r, false)
}

func (s *Server) assignSite(ctx context.Context, r *pb.SiteCAsRequest, assign bool) (*pb.Site, error) {
	site, err := s.store.AssignSiteCAs(ctx, actor(ctx), r.GetHostname(), r.GetCaIds(), assign)
	if err != nil {
		return nil, err
	}
	return s.siteOut(site), nil
}

// GetSiteSettings shows a site's client-certificate settings.
func (s *Server) GetSiteSettings(ctx context.Context, r *pb.GetSiteRequest) (*pb.ClientCertSettings, error) {
	site, err := s.GetSite(ctx, r)
	if err != nil {
		return nil, err
	}
	return site.GetSettings(), nil
}

// UpdateSiteSettings changes a site's client-certificate settings.
func (s *Server) UpdateSiteSettings(ctx context.Context, r *pb.UpdateSiteSettingsRequest) (*pb.ClientCertSettings, error) {
	return s.store.UpdateSettings(ctx, actor(ctx), r.GetHostname(), r.GetSettings(), r.GetUpdateMask())
}

// CreateCRL uploads a CRL.
func (s *Server) CreateCRL(ctx context.Context, r *pb.CreateCRLRequest) (*pb.CRL, error) {
	crl, err := s.store.CreateCRL(ctx, actor(ctx), r.GetCrl())
	if err != nil {
		return nil, err
	}
	return crlOut(crl, false), nil
}

// ListCRLs lists every CRL, without the DER.
func (s *Server) ListCRLs(ctx context.Context, _ *pb.ListCRLsRequest) (*pb.ListCRLsResponse, error) {
	out := &pb.ListCRLsResponse{}
	for _, crl := range s.store.Current().CRLs() {
		out.Crls = append(out.Crls, crlOut(crl, false))
	}
	return out, nil
}

// ListCRLSources lists what the CRL fetcher last did with each source,
// as the fetching replica stored it.
func (s *Server) ListCRLSources(ctx context.Context, _ *pb.ListCRLSourcesRequest) (*pb.ListCRLSourcesResponse, error) {
	sources, err := s.store.CRLFetchStatuses(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.ListCRLSourcesResponse{Sources: sources}, nil
}

// GetCRL shows one CRL.
func (s *Server) GetCRL(ctx context.Context, r *pb.GetCRLRequest) (*pb.CRL, error) {
	crl := s.store.Current().CRL(r.GetId())
	if crl == nil {
		return nil, status.Errorf(codes.NotFound, "CRL %q not found", r.GetId())
	}
	return crlOut(crl, r.GetIncludeDer()), nil
}

// DeleteCRL deletes a CRL.
func (s *Server) DeleteCRL(ctx context.Context, r *pb.DeleteCRLRequest) (*pb.DeleteCRLResponse, error) {
	if err := s.store.DeleteCRL(ctx, actor(ctx), r.GetId()); err != nil {
		return nil, err
	}
	return &pb.DeleteCRLResponse{}, nil
}

// CreateToken creates a token; its secret is in the response only.
func (s *Server) CreateToken(ctx context.Context, r *pb.CreateTokenRequest) (*pb.CreateTokenResponse, error) {
	tok, secret, err := s.store.CreateToken(ctx, actor(ctx), r.GetName(), r.GetRole(), r.GetSites())
	if err != nil {
		return nil, err
	}
	return &pb.CreateTokenResponse{Token: tokenOut(tok), Secret: secret}, nil
}

// ListTokens lists every token, without secrets.
func (s *Server) ListTokens(ctx context.Context, _ *pb.ListTokensRequest) (*pb.ListTokensResponse, error) {
	out := &pb.ListTokensResponse{}
	for _, t := range s.store.Current().Tokens() {
		out.Tokens = append(out.Tokens, tokenOut(t))
	}
	return out, nil
}

// WhoAmI returns the token the call is made with, without its secret.
func (s *Server) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest) (*pb.Token, error) {
	return tokenOut(callerFrom(ctx).token), nil
}

// RevokeToken revokes a token.
func (s *Server) RevokeToken(ctx context.Context, r *pb.RevokeTokenRequest) (*pb.Token, error) {
	tok, err := s.store.RevokeToken(ctx, actor(ctx), r.GetId())
	if err != nil {
		return nil, err
	}
	return tokenOut(tok), nil
}

// ListAuditEvents reads the audit log, newest first.
func (s *Server) ListAuditEvents(ctx context.Context, r *pb.ListAuditEventsRequest) (*pb.ListAuditEventsResponse, error) {
	if err := checkAuditRequest(r); err != nil {
		return nil, err
	}
	evs, next, err := s.store.ListAudit(ctx, storeAuditQuery(r))
	if err != nil {
		return nil, err
	}
	return &pb.ListAuditEventsResponse{Events: evs, NextBefore: next}, nil
}

// maxAuditAction bounds the action filter: API method names are shorter.
const maxAuditAction = 64

// auditResults are the values of the result filter: "ok", "failed" (any
// result but ok) and every status code but OK as the audit log writes
// it (codeName), from codes.Canceled to the last code gRPC names.
var auditResults = func() []string {
	out := []string{store.AuditResultOK, store.AuditResultFailed}
	for c := codes.Canceled; !strings.HasPrefix(c.String(), "Code("); c++ {
		out = append(out, codeName(c))
	}
	return out
}()

// checkAuditRequest refuses a page size or a filter ListAuditEvents does
// not take, naming the field.
func checkAuditRequest(r *pb.ListAuditEventsRequest) error {
	if r.GetLimit() < 0 || r.GetLimit() > 1000 {
		return status.Errorf(codes.InvalidArgument, "limit: must be between 1 and 1000, got %d", r.GetLimit())
	}
	notLetter := func(c rune) bool { return (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') }
	if a := r.GetAction(); len(a) > maxAuditAction || strings.IndexFunc(a, notLetter) >= 0 {
		return status.Errorf(codes.InvalidArgument, "action: must be an API method name (at most %d letters, e.g. CreateSite)", maxAuditAction)
	}
	if o := r.GetObject(); len(o) > store.MaxAuditObject || !utf8.ValidString(o) {
		return status.Errorf(codes.InvalidArgument, "object: must be valid UTF-8 of at most %d bytes", store.MaxAuditObject)
	}
	if res := r.GetResult(); res != "" && !slices.Contains(auditResults, res) {
		return status.Errorf(codes.InvalidArgument, "result: must be one of %s", strings.Join(auditResults, ", "))
	}
	return nil
}

func storeAuditQuery(r *pb.ListAuditEventsRequest) store.AuditQuery {
	return store.AuditQuery{Limit: int(r.GetLimit()), Before: r.GetBefore(), Actor: r.GetActor(),
		Action: r.GetAction(), Object: r.GetObject(), Result: r.GetResult()}
}
