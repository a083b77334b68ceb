// Package accesslog receives the access logs Envoy streams to the control
// plane (envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs)
// and turns them into metrics and decision-log lines: per site, how many
// client connections failed their TLS handshake and why, and which
// requests failed, with the request id that ties them to the ext_authz
// decision of the same request.
//
// Envoy sends two logs, named as package contract says: the HTTPS
// listener's connections (one TCP entry per downstream connection as it
// closes, with the TLS failure reason of a handshake that failed) and the
// HTTP connection managers' failed requests. Both ride the xDS channel:
// a stream is admitted as ext_authz admits a Check (a verified node
// certificate the current State does not revoke, unless the operator opted
// out of node identities), its first message must name a known log and,
// when identities are required, the node its certificate names.
//
// Everything in an entry comes from a proxy that relays what clients
// send: strings are cut before they are logged, and only closed sets of
// words become metric labels.
package accesslog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/nodeid"
)

// DecisionLog selects which entries are logged, with the words of the
// ext_authz decision log (authz.DecisionLog).
type DecisionLog string

// Decision log levels. Envoy sends only failed requests, and successful
// connections are never logged, so LogAll and LogFailures differ only for
// a request entry that did not fail.
const (
	LogAll      DecisionLog = "all"
	LogFailures DecisionLog = "failures"
	LogOff      DecisionLog = "off"
)

// Bounds on what one stream can make the server do.
const (
	// MaxMessageBytes bounds the encoded size of one message; a larger
	// message ends its stream with ResourceExhausted. Envoy flushes its
	// buffer at 16 KiB by default (buffer_size_bytes).
	MaxMessageBytes = 1 << 20
	// MaxEntries bounds the entries handled from one message; the rest
	// are dropped and counted.
	MaxEntries = 1000
	// maxLogValue bounds each string from Envoy in a log line.
	maxLogValue = 256
)

// Options configure a Server.
type Options struct {
	// Admit admits the caller of a stream, as ext_authz admits a Check
	// (authz.Service.Admit): it returns the node the caller's certificate
	// names, the zero Identity when node identities are not required
	// (the plaintext opt-out), or a gRPC status error. It is asked again
	// before each message, so a revocation ends open streams. Nil refuses
	// every stream.
	Admit func(ctx context.Context) (nodeid.Identity, error)
	// SiteOf maps an SNI or :authority to the key of the site it falls
	// under, "" for none (authz.Service.SiteOf). Nil maps every host to
	// none.
	SiteOf func(host string) string
	// DecisionLog defaults to LogFailures.
	DecisionLog DecisionLog
	// Logger receives the decision-log lines and refusals; nil discards.
	Logger *slog.Logger
	// Metrics receives the metrics; nil records none.
	Metrics *Metrics
	// Now is the clock of the refusal log's rate limit; time.Now when nil.
	Now func() time.Time
}

// Server is the AccessLogService. It is safe for concurrent use.
type Server struct {
	alsv3.UnimplementedAccessLogServiceServer
	admit      func(ctx context.Context) (nodeid.Identity, error)
	siteOf     func(host string) string
	dlog       DecisionLog
	log        *slog.Logger
	metrics    *Metrics
	now        func() time.Time
	refusalLog onceASecond
}

// New returns a Server.
func New(opts Options) *Server {
	s := &Server{admit: opts.Admit, siteOf: opts.SiteOf, dlog: opts.DecisionLog, log: opts.Logger, metrics: opts.Metrics, now: opts.Now}
	if s.admit == nil {
		s.admit = func(context.Context) (nodeid.Identity, error) {
			return nodeid.Identity{}, status.Error(codes.Unauthenticated, "no admission configured")
		}
	}
	if s.siteOf == nil {
		s.siteOf = func(string) string { return "" }
	}
	if s.dlog == "" {
		s.dlog = LogFailures
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Register serves the AccessLogService on g.
func (s *Server) Register(g *grpc.Server) { alsv3.RegisterAccessLogServiceServer(g, s) }

// stream is what a stream's first message established.
type stream struct {
	logName string
	node    string // for log lines: the certificate's node, else what Envoy said (cut)
}

// StreamAccessLogs implements the AccessLogService: it admits the caller,
// reads the identifier from the first message, then handles every
// message's entries until Envoy closes the stream.
func (s *Server) StreamAccessLogs(gs alsv3.AccessLogService_StreamAccessLogsServer) error {
	ctx := gs.Context()
	id, err := s.admit(ctx)
	if err != nil {
		return s.refuse(admitReason(err), err, id)
	}
	msg, err := gs.Recv()
	if err != nil {
		return recvEnd(gs, err)
	}
	st, err := s.open(id, msg)
	if err != nil {
		return err
	}
	for {
		if err := s.handle(ctx, st, msg); err != nil {
			return s.refuse(refusedTooLarge, err, id)
		}
		if msg, err = gs.Recv(); err != nil {
			return recvEnd(gs, err)
		}
		if _, err := s.admit(ctx); err != nil {
			return s.refuse(admitReason(err), err, id)
		}
		if l := msg.GetIdentifier().GetLogName(); l != "" && l != st.logName {
			return s.refuse(refusedUnknownLog, status.Errorf(codes.InvalidArgument, "the stream's log is %q; a later message names another", st.logName), id)
		}
	}
}

// recvEnd ends a stream whose Recv returned err: Envoy closing its side
// gets an empty answer; anything else (cancellation) ends it as it is.
func recvEnd(gs alsv3.AccessLogService_StreamAccessLogsServer, err error) error {
	if errors.Is(err, io.EOF) {
		return gs.SendAndClose(&alsv3.StreamAccessLogsResponse{})
	}
	return err
}

// open checks a stream's first message: it must carry the identifier of a
// known log, and when the caller has an identity, name its node and fleet.
func (s *Server) open(id nodeid.Identity, first *alsv3.StreamAccessLogsMessage) (*stream, error) {
	ident := first.GetIdentifier()
	switch name := ident.GetLogName(); {
	case ident == nil:
		return nil, s.refuse(refusedNoIdentifier, status.Error(codes.InvalidArgument, "the first message must carry the identifier"), id)
	case name != contract.AccessLogHTTP && name != contract.AccessLogConnections:
		return nil, s.refuse(refusedUnknownLog, status.Errorf(codes.InvalidArgument, "unknown log name %q (want %s or %s)",
			cut(name), contract.AccessLogHTTP, contract.AccessLogConnections), id)
	}
	if id != (nodeid.Identity{}) && !sameNode(ident.GetNode(), id) {
		return nil, s.refuse(refusedNodeMismatch, status.Errorf(codes.PermissionDenied,
			"the identifier names node %q of fleet %q; the certificate is for %s", cut(ident.GetNode().GetId()), cut(ident.GetNode().GetCluster()), id), id)
	}
	st := &stream{logName: ident.GetLogName(), node: id.Node}
	if st.node == "" {
		st.node = cut(ident.GetNode().GetId())
	}
	return st, nil
}

// sameNode reports whether Envoy's node is the one its certificate names.
func sameNode(n *corev3.Node, id nodeid.Identity) bool {
	return n.GetId() == id.Node && n.GetCluster() == id.Fleet
}

// handle records one message's entries, at most MaxEntries of them.
func (s *Server) handle(ctx context.Context, st *stream, msg *alsv3.StreamAccessLogsMessage) error {
	if n := proto.Size(msg); n > MaxMessageBytes {
		return status.Errorf(codes.ResourceExhausted, "a message of %d bytes, more than %d", n, MaxMessageBytes)
	}
	if tcp := msg.GetTcpLogs().GetLogEntry(); len(tcp) > 0 {
		for _, e := range tcp[:min(len(tcp), MaxEntries)] {
			s.connection(ctx, st, e)
		}
		s.metrics.drop(len(tcp) - MaxEntries)
	}
	if http := msg.GetHttpLogs().GetLogEntry(); len(http) > 0 {
		for _, e := range http[:min(len(http), MaxEntries)] {
			s.request(ctx, st, e)
		}
		s.metrics.drop(len(http) - MaxEntries)
	}
	return nil
}
