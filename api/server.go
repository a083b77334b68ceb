// Package api serves the Certificate Manager API: client CAs, sites and
// their client-certificate settings, CRLs, tokens and the audit log, as
// gRPC and as JSON over HTTP on one admin address. Every call is
// authenticated with a bearer token and checked against the permission
// matrix in permissions.go; every mutation is audited.
package api

import (
	"context"
	"log/slog"
	"net/http"
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
	// issuing configures the issuing CA (issuing.go).
	issuing IssuingConfig
	// uploads holds one token per upload in progress (see Guard);
	// backups the one backup in progress (backupSlot).
	uploads, backups chan struct{}
	// refusals rate-limits the log of unauthenticated calls.
	refusals *refusalLog
	// routeMux matches a JSON request to its route pattern, and
	// routeMethods the pattern to its method, so that Guard knows the
	// method before the body is read.
	routeMux     *http.ServeMux
	routeMethods map[string]string
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
	s := &Server{store: st, log: log, status: status, uploads: make(chan struct{}, MaxConcurrentUploads), backups: make(chan struct{}, 1),
		refusals: &refusalLog{}, routeMux: http.NewServeMux(), routeMethods: map[string]string{}}
	for _, rt := range routes {
		s.routeMux.Handle(rt.pattern, http.NotFoundHandler())
		s.routeMethods[rt.pattern] = rt.method
	}
	return s
}

// UnaryInterceptor returns the interceptor that authenticates, authorises
// and audits calls; install it on the gRPC server that registers s.
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor { return s.intercept }

func actor(ctx context.Context) store.Actor { return callerFrom(ctx).actor }

// Output shaping: what a read returns never includes secrets.

// caOut shapes a CA for the caller: a site-scoped token sees only its own
// sites among the CA's assignments, never the names of the others.
func (s *Server) caOut(ctx context.Context, st *store.State, ca *pb.ClientCA) *pb.ClientCA {
	out := proto.Clone(ca).(*pb.ClientCA)
	out.Sites = visibleSites(callerFrom(ctx).token, st.SitesOfCA(ca.GetId()))
	return out
}

// visibleSites is the part of sites tok may see: all of them, or for a
// site-manager those in its scope.
func visibleSites(tok *pb.Token, sites []string) []string {
	if tok.GetRole() != pb.Role_ROLE_SITE_MANAGER {
		return slices.Clone(sites)
	}
	var out []string
	for _, h := range sites {
		if slices.Contains(tok.GetSites(), h) {
			out = append(out, h)
		}
	}
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
	ca, err := s.store.AddCA(ctx, actor(ctx), store.NewCA{Name: r.GetName(), Bundle: r.GetBundle(), Sites: r.GetSites(),
		CRLURLs: r.GetCrlUrls(), OCSPURL: r.GetOcspUrl(), OCSPNonce: r.GetOcspNonce()})
	if err != nil {
		return nil, err
	}
	return s.caOut(ctx, s.store.Current(), ca), nil
}

// UpdateClientCA renames a client CA or sets its CRL URLs or OCSP
// settings.
func (s *Server) UpdateClientCA(ctx context.Context, r *pb.UpdateClientCARequest) (*pb.ClientCA, error) {
	in := &pb.ClientCA{Name: r.GetName(), CrlUrls: r.GetCrlUrls(), OcspUrl: r.GetOcspUrl(), OcspNonce: r.GetOcspNonce()}
	ca, err := s.store.UpdateCA(ctx, actor(ctx), r.GetId(), in, r.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	return s.caOut(ctx, s.store.Current(), ca), nil
}

// ListClientCAs lists every client CA.
func (s *Server) ListClientCAs(ctx context.Context, _ *pb.ListClientCAsRequest) (*pb.ListClientCAsResponse, error) {
	st := s.store.Current()
	out := &pb.ListClientCAsResponse{}
	for _, ca := range st.CAs() {
		out.Cas = append(out.Cas, s.caOut(ctx, st, ca))
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
	return s.caOut(ctx, st, ca), nil
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
	return s.caOut(ctx, s.store.Current(), ca), nil
}

// Register registers s on g so that a request that does not decode (a
// string that is not UTF-8, a truncated message) goes through the
// interceptor like any other call: it is authenticated, refused with
// INVALID_ARGUMENT naming what is wrong, and, for a mutation, audited.
// (gRPC's own answer would be an unaudited INTERNAL.) g must be built
// with CodecOption.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	desc := pb.CertificateManagerService_ServiceDesc
	desc.Methods = slices.Clone(desc.Methods)
	for i, m := range desc.Methods {
		desc.Methods[i].Handler = decodeThroughInterceptor(m.Handler)
	}
	g.RegisterService(&desc, s)
}

func decodeThroughInterceptor(h grpc.MethodHandler) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		var decodeErr error
		lenient := func(v any) error {
			if err := dec(v); err != nil {
				return err // a transport error: gRPC has answered already
			}
			decodeErr = takeDecodeFailure(v)
			return nil
		}
		if ic == nil {
			ic = func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				return h(ctx, req)
			}
		}
		wrapped := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if decodeErr != nil {
				h = func(context.Context, any) (any, error) { return nil, decodeErr }
			}
			return ic(ctx, req, info, h)
		}
		return h(srv, ctx, lenient, wrapped)
	}
}
