package xds

import (
	"context"
	"errors"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/nodeid"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/store"
)

// Why a stream was refused or cut: the reason label of
// mtlsgate_xds_refused_streams_total, and the word in the log line.
const (
	refusedNoIdentity    = "no_identity"    // no verified node certificate
	refusedRevoked       = "revoked"        // the certificate is revoked (at open, or while open)
	refusedNodeMismatch  = "node_mismatch"  // node.id is not the certificate's node
	refusedFleetMismatch = "fleet_mismatch" // node.cluster is not the certificate's fleet
	refusedNoState       = "no_state"       // no State yet: revocation unknown
)

// errRevoked is the cause of a stream cut because its node was revoked.
var errRevoked = errors.New("the node certificate is revoked, expired or unknown")

// errStopped is the cause of a stream ended by the server's shutdown.
var errStopped = errors.New("the control plane is stopping")

// stream is one open ADS stream.
type stream struct {
	id     int64
	cancel context.CancelCauseFunc
	stop   func() bool // stops cancelling on the server's shutdown
	// authenticated is set when the peer presented a verified node
	// certificate (always, when identities are required): ident and
	// serial are then the certificate's.
	authenticated bool
	ident         nodeid.Identity
	serial        string
	// expiry cuts the stream when its certificate expires (nil when no
	// identity is required).
	expiry *time.Timer

	// Set on the stream's own goroutine (go-control-plane's callbacks).
	fleet   string // once the first request is in
	checked bool   // a request has named the node

	// live is what the stream was sent and acknowledged, for the API.
	live liveStream
}

// streamBook tracks the open streams by certificate serial, so that a
// revocation closes them.
type streamBook struct {
	mu       sync.Mutex
	next     int64
	bySerial map[string]map[int64]*stream
}

func newStreamBook() streamBook {
	return streamBook{bySerial: map[string]map[int64]*stream{}}
}

func (b *streamBook) add(sm *stream) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	sm.id = b.next
	m := b.bySerial[sm.serial]
	if m == nil {
		m = map[int64]*stream{}
		b.bySerial[sm.serial] = m
	}
	m[sm.id] = sm
}

// all returns every open stream.
func (b *streamBook) all() []*stream {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*stream
	for _, m := range b.bySerial {
		for _, sm := range m {
			out = append(out, sm)
		}
	}
	return out
}

func (b *streamBook) remove(sm *stream) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.bySerial[sm.serial], sm.id)
	if len(b.bySerial[sm.serial]) == 0 {
		delete(b.bySerial, sm.serial)
	}
}

// revoked returns the open streams of the certificates st no longer
// serves at now (revoked, expired or unknown).
func (b *streamBook) revoked(st *store.State, now time.Time) []*stream {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*stream
	for serial, m := range b.bySerial {
		if serial != "" && !st.NodeServable(serial, now) {
			for _, sm := range m {
				out = append(out, sm)
			}
		}
	}
	return out
}

// cutRevoked closes the open streams of the nodes st revokes. Their
// handlers return at once (unless a send is under way, which is then the
// last), and nothing is sent on them any more.
func (s *Server) cutRevoked(st *store.State) {
	for _, sm := range s.streams.revoked(st, time.Now()) {
		sm.cancel(errRevoked)
		s.metrics.refused(refusedRevoked)
		s.log.Warn("xDS stream closed: node certificate revoked, expired or unknown", "node", sm.ident.Node, "fleet", sm.ident.Fleet,
			"serial", sm.serial, "stream", sm.id)
	}
}

// adsService serves the Aggregated Discovery Service: each stream is
// authenticated, then handed to a go-control-plane server of its own,
// whose context the stream owns, so that a revocation ends that stream
// alone.
type adsService struct{ s *Server }

// StreamAggregatedResources serves a state-of-the-world ADS stream.
func (a adsService) StreamAggregatedResources(st discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	sm, ctx, err := a.s.open(st.Context(), protocolSotW)
	if err != nil {
		return err
	}
	defer a.s.end(sm)
	err = serverv3.NewServer(ctx, a.s.watcher, a.s.callbacks(sm)).StreamAggregatedResources(sotwStream{st, ctx})
	return ended(ctx, err)
}

// DeltaAggregatedResources serves a delta ADS stream.
func (a adsService) DeltaAggregatedResources(st discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	sm, ctx, err := a.s.open(st.Context(), protocolDelta)
	if err != nil {
		return err
	}
	defer a.s.end(sm)
	err = serverv3.NewServer(ctx, a.s.watcher, a.s.callbacks(sm)).DeltaAggregatedResources(deltaStream{st, ctx})
	return ended(ctx, err)
}

// ended is a stream handler's result: a stream cut by a revocation ends
// with PermissionDenied (go-control-plane returns nil when its context
// ends).
func ended(ctx context.Context, err error) error {
	switch context.Cause(ctx) {
	case errRevoked:
		return status.Error(codes.PermissionDenied, errRevoked.Error())
	case errStopped:
		return status.Error(codes.Unavailable, errStopped.Error())
	}
	return err
}

// open admits a new stream and returns the context it runs under. When
// identities are required, the peer must present a verified node
// certificate that the current State does not revoke. The stream is
// registered before revocation is read, so that a State revoking it
// either is read here or, arriving later, cuts it (Update stores the
// State before it looks for streams to cut).
func (s *Server) open(ctx context.Context, protocol string) (*stream, context.Context, error) {
	sm := &stream{live: liveStream{protocol: protocol, connectedAt: time.Now()}}
	var notAfter time.Time
	if s.requireIdentity {
		id, cert, err := nodeid.FromPeer(ctx)
		if err != nil {
			return nil, nil, s.refuse(nil, refusedNoIdentity, codes.Unauthenticated, "a node certificate issued by mtlsgate is required", err)
		}
		sm.authenticated, sm.ident, sm.serial = true, id, pki.SerialHex(cert.SerialNumber)
		notAfter = cert.NotAfter
	}
	ctx, cancel := context.WithCancelCause(ctx)
	sm.cancel = cancel
	sm.stop = context.AfterFunc(s.ctx, func() { cancel(errStopped) })
	if s.requireIdentity {
		sm.expiry = time.AfterFunc(time.Until(notAfter), func() { cancel(errRevoked) })
	}
	s.streams.add(sm)
	if s.requireIdentity {
		st := s.state.Load()
		var err error
		switch {
		case st == nil:
			err = s.refuse(sm, refusedNoState, codes.Unavailable, "no configuration yet", nil)
		case !st.NodeServable(sm.serial, time.Now()):
			err = s.refuse(sm, refusedRevoked, codes.PermissionDenied, errRevoked.Error(), nil)
		}
		if err != nil {
			s.end(sm)
			return nil, nil, err
		}
	}
	return sm, ctx, nil
}

// end forgets a stream and releases its context.
func (s *Server) end(sm *stream) {
	s.streams.remove(sm)
	s.liveGen.Add(1)
	sm.stop()
	if sm.expiry != nil {
		sm.expiry.Stop()
	}
	sm.cancel(context.Canceled)
}

// checkNode checks the node a request names against the stream's
// certificate: node.id must be the certificate's node and node.cluster
// its fleet (an empty node.cluster is refused like any other). The first
// request must name the node; a later one may omit it (go-control-plane
// keeps the first). Without required identities, any node passes.
func (s *Server) checkNode(sm *stream, n *core.Node) error {
	if !s.requireIdentity {
		return nil
	}
	switch {
	case n == nil && sm.checked:
		return nil
	case n.GetId() != sm.ident.Node:
		return s.refuse(sm, refusedNodeMismatch, codes.PermissionDenied, "node.id is not the node certificate's", nil,
			"node_id", printable(n.GetId()))
	case n.GetCluster() != sm.ident.Fleet:
		return s.refuse(sm, refusedFleetMismatch, codes.PermissionDenied, "node.cluster is not the node certificate's fleet", nil,
			"node_cluster", printable(n.GetCluster()))
	}
	sm.checked = true
	return nil
}

// refuse logs and counts a refused stream and returns its gRPC error.
func (s *Server) refuse(sm *stream, reason string, code codes.Code, msg string, err error, attrs ...any) error {
	s.metrics.refused(reason)
	attrs = append(attrs, "reason", reason)
	if sm != nil {
		attrs = append(attrs, "node", sm.ident.Node, "fleet", sm.ident.Fleet, "serial", sm.serial)
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.log.Warn("xDS stream refused", attrs...)
	return status.Error(code, msg)
}

// printable bounds a peer-sent name for a log line.
func printable(s string) string {
	const limit = 2 * nodeid.MaxNameLen
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

// sotwStream is a state-of-the-world stream under the context its
// handler owns: once that context ends, nothing more is sent.
type sotwStream struct {
	discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	ctx context.Context
}

func (s sotwStream) Context() context.Context { return s.ctx }

func (s sotwStream) Send(r *discovery.DiscoveryResponse) error {
	if s.ctx.Err() != nil {
		return context.Cause(s.ctx)
	}
	return s.AggregatedDiscoveryService_StreamAggregatedResourcesServer.Send(r)
}

// deltaStream is sotwStream's delta counterpart.
type deltaStream struct {
	discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer
	ctx context.Context
}

func (s deltaStream) Context() context.Context { return s.ctx }

func (s deltaStream) Send(r *discovery.DeltaDiscoveryResponse) error {
	if s.ctx.Err() != nil {
		return context.Cause(s.ctx)
	}
	return s.AggregatedDiscoveryService_DeltaAggregatedResourcesServer.Send(r)
}
