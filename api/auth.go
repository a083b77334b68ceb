package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"path"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// callerKey carries the authenticated caller of one call.
type callerKey struct{}

// caller is who makes a call, and as what action.
type caller struct {
	token  *pb.Token
	actor  store.Actor
	method string
}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// servicePrefix marks the methods the interceptor guards; health and
// reflection pass through.
var servicePrefix = "/" + pb.CertificateManagerService_ServiceDesc.ServiceName + "/"

// intercept authenticates, authorises, audits refused mutations and logs
// every Certificate Manager call. Both transports (gRPC and JSON over
// HTTP) run every call through it.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !strings.HasPrefix(info.FullMethod, servicePrefix) {
		return handler(ctx, req)
	}
	method := path.Base(info.FullMethod)
	c := caller{method: method, actor: store.Actor{Action: method, RemoteAddr: remoteAddr(ctx)}}
	r, known := rules[method]
	var resp any
	err := s.authorize(ctx, &c, r, known, req)
	if err == nil {
		resp, err = handler(context.WithValue(ctx, callerKey{}, c), req)
		err = s.toStatus(info.FullMethod, err)
	}
	s.record(ctx, c, r, req, err)
	return resp, err
}

// authorize fills c.token and checks the rule; it returns the status to
// answer with when the call may not proceed.
func (s *Server) authorize(ctx context.Context, c *caller, r rule, known bool, req any) error {
	tok, err := s.store.Current().Authenticate(bearer(ctx))
	if err != nil {
		return status.Error(codes.Unauthenticated, "a valid bearer token is required")
	}
	c.token, c.actor.TokenID = tok, tok.GetId()
	if !known || !r.allowed(tok, req) {
		return status.Errorf(codes.PermissionDenied, "role %s may not call %s%s",
			roleName(tok.GetRole()), c.method, scopeNote(tok, r, req))
	}
	return nil
}

func scopeNote(tok *pb.Token, r rule, req any) string {
	if tok.GetRole() != pb.Role_ROLE_SITE_MANAGER || r.sites == nil {
		return ""
	}
	return " on " + strings.Join(r.sites(req), ", ") + " (token is scoped to " + strings.Join(tok.GetSites(), ", ") + ")"
}

// record writes refused mutations to the audit log (carried-out ones were
// recorded in their own transaction; one refused because the store is
// unavailable cannot be) and every call to the log. A call
// refused for want of a valid token gets only a rate-limited log line:
// who cannot authenticate cannot make mtlsgate write.
func (s *Server) record(ctx context.Context, c caller, r rule, req any, err error) {
	if c.token == nil && status.Code(err) == codes.Unauthenticated {
		s.refusals.note(s.log, c.method, c.actor.RemoteAddr)
		return
	}
	result := store.AuditResultOK
	if err != nil {
		result = codeName(status.Code(err))
	}
	level := slog.LevelDebug
	if r.mutation {
		level = slog.LevelInfo
	}
	object := ""
	if r.object != nil {
		object = r.object(req).String()
	}
	s.log.Log(ctx, level, "api call", "method", c.method, "actor", c.actor.TokenID,
		"object", clip(object, store.MaxAuditObject), "result", result, "remote", c.actor.RemoteAddr,
		"error", clip(errText(err), store.MaxAuditMessage))
	if !r.mutation || err == nil {
		return
	}
	if status.Code(err) == codes.Unavailable {
		// The store could not take the write; it cannot take its audit
		// event either (the log line above records the refusal).
		return
	}
	ev := s.store.NewAuditEvent(c.actor, object, result, status.Convert(err).Message())
	if aerr := s.store.AppendAudit(context.WithoutCancel(ctx), ev); aerr != nil {
		s.log.Error("audit write failed", "err", aerr, "method", c.method)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return status.Convert(err).Message()
}

// bearer returns the token from the authorization metadata.
func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	return bearerToken(md.Get("authorization"))
}

// bearerToken returns the token of the first "Bearer" authorization value.
func bearerToken(values []string) string {
	for _, v := range values {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

// ConsoleRemoteKey is the metadata key in which the web console, calling
// over its in-process connection, names the browser a call is made for.
const ConsoleRemoteKey = "x-mtlsgate-console-remote"

// inProcess is the network of the console's in-process connection
// (bufconn): no peer from outside the process has it.
const inProcess = "bufconn"

// remoteAddr is who made the call: the peer's address, or for the
// console's in-process calls the browser's, as "console <addr>".
func remoteAddr(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if p.Addr.Network() == inProcess {
		if v := metadata.ValueFromIncomingContext(ctx, ConsoleRemoteKey); len(v) == 1 {
			return "console " + clip(v[0], 64)
		}
		return "console"
	}
	return p.Addr.String()
}

// toStatus maps store errors to gRPC status errors. An error of no known
// class is logged under a fresh id and answered as INTERNAL with that id
// only: its text may name files or internals the caller has no business
// seeing.
func (s *Server) toStatus(method string, err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Internal, codes.Unknown, codes.DataLoss:
			return s.internal(method, err)
		}
		return err
	}
	if errors.Is(err, store.ErrUnavailable) {
		id := s.logWithID("store unavailable for an API write", method, err)
		return status.Errorf(codes.Unavailable, "the configuration store did not confirm the change: it was most likely not made (check before retrying); ext_authz and xDS keep serving the last configuration (error id %s)", id)
	}
	for _, m := range []struct {
		target error
		code   codes.Code
	}{
		{store.ErrInvalid, codes.InvalidArgument},
		{store.ErrNotFound, codes.NotFound},
		{store.ErrAlreadyExists, codes.AlreadyExists},
		{store.ErrFailedPrecondition, codes.FailedPrecondition},
		{store.ErrLimit, codes.ResourceExhausted},
		{store.ErrConflict, codes.Aborted},
		{context.Canceled, codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
	} {
		if errors.Is(err, m.target) {
			// The code already says the class; keep the message about
			// what is wrong ("site x.example.com", not "not found: ...").
			return status.Error(m.code, strings.TrimPrefix(err.Error(), m.target.Error()+": "))
		}
	}
	return s.internal(method, err)
}

// internal logs err with a fresh id and returns the INTERNAL status the
// client sees: the class, the id to quote, nothing of err's text.
func (s *Server) internal(method string, err error) error {
	id := s.logWithID("internal error in API call", method, err)
	return status.Errorf(codes.Internal, "internal error (error id %s; the server log has the detail)", id)
}

// logWithID logs err under a fresh id, which it returns for the client to
// quote.
func (s *Server) logWithID(msg, method string, err error) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	s.log.Error(msg, "error_id", id, "method", method, "err", err)
	return id
}

// codeName turns a status code into a snake_case word.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// roleName is a role as users write it: "ca-manager".
func roleName(r pb.Role) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_")), "_", "-")
}
