package xds

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"

	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/store"
)

// DefaultFleet is the fleet of an Envoy whose node names no cluster,
// when node identities are not required. (With identities, a node must
// name its certificate's fleet: an empty node.cluster is refused.)
const DefaultFleet = "default"

// fleetHash keys snapshots by the node's cluster: its fleet. With node
// identities, node.cluster has been checked against the certificate.
type fleetHash struct{}

func (fleetHash) ID(n *core.Node) string {
	if n.GetCluster() == "" {
		return DefaultFleet
	}
	return n.GetCluster()
}

// Server is mtlsgate's xDS control plane: it translates every new State
// and serves each fleet its own snapshot over ADS, state-of-the-world and
// delta. A node receives the sites placed on its fleet and those on every
// fleet, nothing else. A translation that fails as a whole is not
// published: the last good snapshots keep serving.
//
// With Options.RequireNodeIdentity, a stream is served only to a node
// that authenticates (see open and checkNode), and a node whose
// certificate a new State revokes is cut off at once.
type Server struct {
	tr      *Translator
	log     *slog.Logger
	cache   cachev3.SnapshotCache
	watcher cachev3.Cache
	metrics *Metrics
	status  *statusBook
	ctx     context.Context // the server's lifetime
	// requireIdentity is Options.RequireNodeIdentity.
	requireIdentity bool
	// state is the latest State: revocation is read from it.
	state atomic.Pointer[store.State]

	// pub serialises publishing, so that a fleet seen for the first time
	// never gets a snapshot older than the one every fleet has.
	pub     sync.Mutex
	current *fleetSnapshots // nil until the first translation
	fleets  map[string]bool // every fleet a node has asked for

	streams streamBook

	// currentRev is the store revision of current, and history the
	// fleets' recent configurations (both guarded by pub). liveGen moves
	// whenever a stream, an acknowledgement or a publication changes what
	// Fleets reports; liveCache is the report at a generation.
	currentRev int64
	history    revHistory
	liveGen    atomic.Int64
	liveCache  atomic.Pointer[nodeSummary]
	liveMu     sync.Mutex // one summary computed at a time
}

// fleetSnapshots are one translation's snapshots.
type fleetSnapshots struct {
	every  *cachev3.Snapshot            // for a fleet no site names
	fleets map[string]*cachev3.Snapshot // for each fleet a site names
}

// For returns the snapshot of a fleet.
func (f *fleetSnapshots) For(fleet string) *cachev3.Snapshot {
	if s := f.fleets[fleet]; s != nil {
		return s
	}
	return f.every
}

// NewServer returns a control plane that serves nothing until Update
// gives it a model. It stops serving streams when ctx ends.
func NewServer(ctx context.Context, o Options, log *slog.Logger, m *Metrics) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{tr: NewTranslator(o), log: log, metrics: m, status: newStatusBook(), ctx: ctx,
		requireIdentity: o.RequireNodeIdentity, fleets: map[string]bool{}, streams: newStreamBook(), history: revHistory{}}
	s.cache = cachev3.NewSnapshotCache(true, fleetHash{}, cacheLogger{log})
	s.watcher = resumingCache{s.cache}
	if !s.requireIdentity {
		log.Warn("xDS serves any peer: node identities are not required (plaintext opt-out)")
	}
	return s
}

// Register adds the ADS service to g.
func (s *Server) Register(g *grpc.Server) {
	discovery.RegisterAggregatedDiscoveryServiceServer(g, adsService{s})
}

// Update takes m: first it closes the streams of nodes m's State revokes,
// then it translates m and publishes each fleet's snapshot. Translation is
// incremental: only what changed since the previous model is rebuilt.
// model.Follow calls it with each new model.
func (s *Server) Update(m *model.Model) {
	st := m.State
	s.state.Store(st)
	s.cutRevoked(st)
	start := time.Now()
	res, err := s.tr.Translate(m)
	var snaps *fleetSnapshots
	if err == nil {
		snaps, err = snapshots(res)
	}
	if err != nil {
		s.log.Error("xDS translation failed; the last good snapshot keeps serving", "rev", st.Rev, "err", err)
		s.metrics.buildFailed()
		return
	}
	s.status.setTranslation(st, res.SiteErrors)
	for host, e := range res.SiteErrors {
		s.log.Error("site could not be translated; the other sites are served", "site", host, "err", e)
	}
	s.pub.Lock()
	s.current, s.currentRev = snaps, st.Rev
	fleets := slices.Sorted(maps.Keys(s.fleets))
	for _, f := range fleets {
		s.publish(f, snaps.For(f))
	}
	s.pub.Unlock()
	s.metrics.built(res, time.Since(start))
	s.log.Debug("xDS snapshot built", "rev", st.Rev, "took", time.Since(start), "fleets", len(fleets), "site_fleets", len(res.Fleets))
}

// snapshots makes the snapshots of a translation.
func snapshots(res *Resources) (*fleetSnapshots, error) {
	every, err := res.Snapshot()
	if err != nil {
		return nil, err
	}
	out := &fleetSnapshots{every: every, fleets: make(map[string]*cachev3.Snapshot, len(res.Fleets))}
	for f, fr := range res.Fleets {
		if out.fleets[f], err = fr.Snapshot(); err != nil {
			return nil, fmt.Errorf("fleet %s: %w", f, err)
		}
	}
	return out, nil
}

// publish sets a fleet's snapshot; s.pub is held. go-control-plane
// answers the open watches on buffered channels: it does not block.
func (s *Server) publish(fleet string, snap *cachev3.Snapshot) {
	if err := s.cache.SetSnapshot(context.Background(), fleet, snap); err != nil {
		s.log.Error("set xDS snapshot", "fleet", fleet, "err", err)
		return
	}
	s.history.record(historyKey(s.current, fleet), s.currentRev, snap)
	s.liveGen.Add(1)
}

// ensureFleet gives a fleet seen for the first time the current snapshot
// at once, before its first watch is made.
func (s *Server) ensureFleet(fleet string) {
	s.pub.Lock()
	defer s.pub.Unlock()
	if s.fleets[fleet] {
		return
	}
	s.fleets[fleet] = true
	if s.current != nil {
		s.publish(fleet, s.current.For(fleet))
	}
}

// SiteStatus returns what the data plane made of a site: why it was left
// out of the configuration, the last rejection naming it, and the nodes
// of its fleets.
func (s *Server) SiteStatus(host string) SiteStatus {
	out := s.status.get(host)
	if st := s.state.Load(); st != nil && st.Site(host) != nil {
		out.Fleets, out.Revision = s.Fleets(st.Site(host).GetFleets())
	}
	return out
}

// join records the fleet of a stream on its first request; a fleet seen
// for the first time gets its snapshot at once. An authenticated node's
// fleet is its certificate's (checkNode has compared node.cluster).
func (s *Server) join(sm *stream, n *core.Node) {
	if sm.fleet != "" {
		return
	}
	sm.fleet = fleetHash{}.ID(n)
	if sm.authenticated {
		sm.fleet = sm.ident.Fleet
	}
	sm.live.mu.Lock()
	sm.live.node, sm.live.fleet = n.GetId(), sm.fleet
	sm.live.mu.Unlock()
	s.liveGen.Add(1)
	s.metrics.connected(sm.fleet, 1)
	s.log.Info("Envoy connected", "node", n.GetId(), "fleet", sm.fleet, "stream", sm.id, "serial", sm.serial)
	s.ensureFleet(sm.fleet)
}

// leave records the end of a stream.
func (s *Server) leave(sm *stream, n *core.Node) {
	if sm.fleet != "" {
		s.metrics.connected(sm.fleet, -1)
		s.log.Info("Envoy disconnected", "node", n.GetId(), "fleet", sm.fleet, "stream", sm.id)
	}
}

// nack logs a rejected configuration with Envoy's error, counts it, and
// marks the sites its message names.
func (s *Server) nack(n *core.Node, typeURL, version, msg string) {
	msg = clipNack(msg)
	kind := shortType(typeURL)
	s.log.Error("Envoy rejected configuration (NACK)", "node", n.GetId(), "fleet", fleetHash{}.ID(n),
		"type", kind, "version", version, "error", msg)
	s.metrics.nacked(kind)
	s.status.recordNack(n.GetId(), msg, time.Now())
}

// maxNackText bounds how much of a NACK's error message is logged, kept
// and read for site names: the message comes from the peer.
const maxNackText = 16 << 10

// clipNack cuts msg to maxNackText bytes, at a rune boundary.
func clipNack(msg string) string {
	if len(msg) <= maxNackText {
		return msg
	}
	return strings.ToValidUTF8(msg[:maxNackText], "") + "…"
}

// callbacks are one stream's: go-control-plane runs them on the stream's
// own goroutine, in order, and every request passes checkNode before a
// watch is made for it, so nothing is sent to a node that fails it.
func (s *Server) callbacks(sm *stream) serverv3.Callbacks {
	return &serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, r *discovery.DiscoveryRequest) error {
			if err := s.checkNode(sm, r.GetNode()); err != nil {
				return err
			}
			s.join(sm, r.GetNode())
			if e := r.GetErrorDetail(); e != nil {
				s.nack(r.GetNode(), r.GetTypeUrl(), r.GetVersionInfo(), e.GetMessage())
			}
			if sm.live.requestSotW(r, time.Now()) {
				s.liveGen.Add(1)
			}
			return nil
		},
		StreamDeltaRequestFunc: func(_ int64, r *discovery.DeltaDiscoveryRequest) error {
			// A delta request after the first may omit the node:
			// go-control-plane then keeps the first one's.
			if err := s.checkNode(sm, r.GetNode()); err != nil {
				return err
			}
			s.join(sm, r.GetNode())
			if e := r.GetErrorDetail(); e != nil {
				s.nack(r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), e.GetMessage())
			}
			if sm.live.requestDelta(r, time.Now()) {
				s.liveGen.Add(1)
			}
			return nil
		},
		StreamClosedFunc:      func(_ int64, n *core.Node) { s.leave(sm, n) },
		DeltaStreamClosedFunc: func(_ int64, n *core.Node) { s.leave(sm, n) },
		StreamResponseFunc: func(_ context.Context, _ int64, _ *discovery.DiscoveryRequest, r *discovery.DiscoveryResponse) {
			sm.live.sentSotW(r)
			s.liveGen.Add(1)
			s.metrics.pushed(r.GetTypeUrl(), len(r.GetResources()))
		},
		StreamDeltaResponseFunc: func(_ int64, _ *discovery.DeltaDiscoveryRequest, r *discovery.DeltaDiscoveryResponse) {
			sm.live.sentDelta(r)
			s.liveGen.Add(1)
			s.metrics.pushed(r.GetTypeUrl(), len(r.GetResources()))
		},
	}
}

// cacheLogger sends go-control-plane's logs to slog at debug level. Its
// debug messages are formatted only when debug logging is on: some list
// every resource name of a response (tens of thousands, on every push).
type cacheLogger struct{ log *slog.Logger }

func (l cacheLogger) Debugf(f string, a ...any) { l.debug(f, a) }
func (l cacheLogger) Infof(f string, a ...any)  { l.debug(f, a) }
func (l cacheLogger) Warnf(f string, a ...any)  { l.log.Warn(fmt.Sprintf(f, a...)) }
func (l cacheLogger) Errorf(f string, a ...any) { l.log.Error(fmt.Sprintf(f, a...)) }

func (l cacheLogger) debug(f string, a []any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(f, a...))
	}
}
