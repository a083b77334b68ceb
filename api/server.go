// Package api serves the Certificate Manager API: client CAs, sites and
// their client-certificate settings, CRLs, tokens and the audit log, as
// gRPC and as JSON over HTTP on one admin address. Every call is
// authenticated with a bearer token and checked against the permission
// matrix in permissions.go; every mutation is audited.
package api

import (
	"context"
	"log/slog"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Server implements CertificateManagerService over a Store.
type Server struct {
	pb.UnimplementedCertificateManagerServiceServer
	store  *store.Store
	log    *slog.Logger
	status StatusSource
	nodes  nodes
}

// StatusSource reports what the data plane made of a site; nil when all
// is well.
type StatusSource func(hostname string) *pb.SiteStatus

// New returns a Server over st. status may be nil.
func New(st *store.Store, log *slog.Logger, status StatusSource) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if status == nil {
		status = func(string) *pb.SiteStatus { return nil }
	}
	return &Server{store: st, log: log, status: status}
}

// UnaryInterceptor returns the interceptor that authenticates, authorises
// and audits calls; install it on the gRPC server that registers s.
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor { return s.intercept }

func actor(ctx context.Context) store.Actor { return callerFrom(ctx).actor }

// Output shaping: what a read returns never includes secrets.

func (s *Server) caOut(st *store.State, ca *pb.ClientCA) *pb.ClientCA {
	out := proto.Clone(ca).(*pb.ClientCA)
	out.Sites = slices.Clone(st.SitesOfCA(ca.GetId()))
	return out
}

func (s *Server) siteOut(site *pb.Site) *pb.Site {
	out := proto.Clone(site).(*pb.Site)
	if in := out.GetServerCertificate().GetInline(); in != nil {
		in.PrivateKeyPem = ""
	}
	out.Status = s.status(site.GetHostname())
	return out
}

func crlOut(crl *pb.CRL, withDER bool) *pb.CRL {
	out := proto.Clone(crl).(*pb.CRL)
	if !withDER {
		out.Der = nil
	}
	return out
}

func tokenOut(t *pb.Token) *pb.Token {
	out := proto.Clone(t).(*pb.Token)
	out.SecretSha256 = nil
	return out
}

// CreateClientCA uploads a client CA bundle.
func (s *Server) CreateClientCA(ctx context.Context, r *pb.CreateClientCARequest) (*pb.ClientCA, error) {
	ca, err := s.store.CreateCA(ctx, actor(ctx), r.GetName(), r.GetBundle(), r.GetSites())
	if err != nil {
		return nil, err
	}
	return s.caOut(s.store.Current(), ca), nil
}

// ListClientCAs lists every client CA.
func (s *Server) ListClientCAs(ctx context.Context, _ *pb.ListClientCAsRequest) (*pb.ListClientCAsResponse, error) {
	st := s.store.Current()
	out := &pb.ListClientCAsResponse{}
	for _, ca := range st.CAs() {
		out.Cas = append(out.Cas, s.caOut(st, ca))
	}
	return out, nil
}

// GetClientCA shows one client CA.
func (s *Server) GetClientCA(ctx context.Context, r *pb.GetClientCARequest) (*pb.ClientCA, error) {
	st := s.store.Current()
	ca := st.CA(r.GetId())
	if ca == nil {
		return nil, status.Errorf(codes.NotFound, "client CA %q not found", r.GetId())
	}
	return s.caOut(st, ca), nil
}

// DeleteClientCA deletes a client CA.
func (s *Server) DeleteClientCA(ctx context.Context, r *pb.DeleteClientCARequest) (*pb.DeleteClientCAResponse, error) {
	if err := s.store.DeleteCA(ctx, actor(ctx), r.GetId(), r.GetForce()); err != nil {
		return nil, err
	}
	return &pb.DeleteClientCAResponse{}, nil
}

// AssignClientCA assigns a client CA to sites.
func (s *Server) AssignClientCA(ctx context.Context, r *pb.AssignClientCARequest) (*pb.ClientCA, error) {
	return s.assignCA(ctx, r, true)
}

// UnassignClientCA unassigns a client CA from sites.
func (s *Server) UnassignClientCA(ctx context.Context, r *pb.AssignClientCARequest) (*pb.ClientCA, error) {
	return s.assignCA(ctx, r, false)
}

func (s *Server) assignCA(ctx context.Context, r *pb.AssignClientCARequest, assign bool) (*pb.ClientCA, error) {
	ca, err := s.store.AssignCA(ctx, actor(ctx), r.GetId(), r.GetSites(), assign)
	if err != nil {
		return nil, err
	}
	return s.caOut(s.store.Current(), ca), nil
}
