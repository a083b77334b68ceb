package xds

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"

	"github.com/mtlsgate/mtlsgate/store"
)

// DefaultFleet is the fleet of an Envoy whose node names no cluster.
const DefaultFleet = "default"

// fleetHash keys snapshots by the node's cluster: its fleet.
type fleetHash struct{}

func (fleetHash) ID(n *core.Node) string {
	if n.GetCluster() == "" {
		return DefaultFleet
	}
	return n.GetCluster()
}

// Server is mtlsgate's xDS control plane: it translates every new State
// and serves the result to every fleet over ADS, state-of-the-world and
// delta. A translation that fails as a whole is not published: the last
// good snapshot keeps serving.
type Server struct {
	tr      *Translator
	log     *slog.Logger
	cache   cachev3.SnapshotCache
	xds     serverv3.Server
	metrics *Metrics
	status  *statusBook

	mu      sync.Mutex
	current *cachev3.Snapshot
	fleets  map[string]bool
	streams map[int64]string // stream → fleet, once known
}

// NewServer returns a control plane that serves nothing until Update (or
// Run) gives it a State.
func NewServer(ctx context.Context, o Options, log *slog.Logger, m *Metrics) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{tr: NewTranslator(o), log: log, metrics: m, status: newStatusBook(),
		fleets: map[string]bool{}, streams: map[int64]string{}}
	s.cache = cachev3.NewSnapshotCache(true, fleetHash{}, cacheLogger{log})
	s.xds = serverv3.NewServer(ctx, resumingCache{s.cache}, s.callbacks())
	return s
}

// Register adds the ADS service to g.
func (s *Server) Register(g *grpc.Server) {
	discovery.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// Run keeps the snapshots in step with st until ctx ends. Changes are
// debounced (50 ms quiet, 250 ms at most).
func (s *Server) Run(ctx context.Context, st *store.Store) {
	st.Follow(ctx, 50*time.Millisecond, 250*time.Millisecond, s.Update)
}

// Update translates st and publishes it to every fleet. Translation is
// incremental: only what changed since the previous State is rebuilt.
func (s *Server) Update(st *store.State) {
	start := time.Now()
	res, err := s.tr.Translate(st)
	var snap *cachev3.Snapshot
	if err == nil {
		snap, err = res.Snapshot()
	}
	if err != nil {
		s.log.Error("xDS translation failed; the last good snapshot keeps serving", "rev", st.Rev, "err", err)
		s.metrics.buildFailed()
		return
	}
	s.status.setTranslation(st, res.SiteErrors)
	for host, e := range res.SiteErrors {
		s.log.Error("site left out of the Envoy configuration", "site", host, "err", e)
	}
	s.mu.Lock()
	s.current = snap
	fleets := s.fleetList()
	s.mu.Unlock()
	for _, f := range fleets {
		s.publish(f, snap)
	}
	s.metrics.built(res, time.Since(start))
	s.log.Debug("xDS snapshot built", "rev", st.Rev, "took", time.Since(start), "fleets", len(fleets))
}

func (s *Server) fleetList() []string {
	out := make([]string, 0, len(s.fleets))
	for f := range s.fleets {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

func (s *Server) publish(fleet string, snap *cachev3.Snapshot) {
	if err := s.cache.SetSnapshot(context.Background(), fleet, snap); err != nil {
		s.log.Error("set xDS snapshot", "fleet", fleet, "err", err)
	}
}

// SiteStatus returns what the data plane made of a site: why it was left
// out of the configuration, and the last rejection naming it.
func (s *Server) SiteStatus(host string) SiteStatus { return s.status.get(host) }

// join records a stream's fleet; the first node of a new fleet gets the
// current snapshot at once.
func (s *Server) join(stream int64, n *core.Node) {
	fleet := fleetHash{}.ID(n)
	s.mu.Lock()
	if _, known := s.streams[stream]; known {
		s.mu.Unlock()
		return
	}
	s.streams[stream] = fleet
	isNew := !s.fleets[fleet]
	s.fleets[fleet] = true
	snap := s.current
	s.mu.Unlock()
	s.metrics.connected(fleet, 1)
	s.log.Info("Envoy connected", "node", n.GetId(), "fleet", fleet, "stream", stream)
	if isNew && snap != nil {
		s.publish(fleet, snap)
	}
}

func (s *Server) leave(stream int64, n *core.Node) {
	s.mu.Lock()
	fleet, known := s.streams[stream]
	delete(s.streams, stream)
	s.mu.Unlock()
	if known {
		s.metrics.connected(fleet, -1)
		s.log.Info("Envoy disconnected", "node", n.GetId(), "fleet", fleet, "stream", stream)
	}
}

// nack logs a rejected configuration with Envoy's error, counts it, and
// marks the sites its message names.
func (s *Server) nack(n *core.Node, typeURL, version, msg string) {
	kind := shortType(typeURL)
	s.log.Error("Envoy rejected configuration (NACK)", "node", n.GetId(), "fleet", fleetHash{}.ID(n),
		"type", kind, "version", version, "error", msg)
	s.metrics.nacked(kind)
	s.status.recordNack(n.GetId(), msg, time.Now())
}

func (s *Server) callbacks() serverv3.Callbacks {
	return &serverv3.CallbackFuncs{
		StreamRequestFunc: func(id int64, r *discovery.DiscoveryRequest) error {
			s.join(id, r.GetNode())
			if e := r.GetErrorDetail(); e != nil {
				s.nack(r.GetNode(), r.GetTypeUrl(), r.GetVersionInfo(), e.GetMessage())
			}
			return nil
		},
		StreamDeltaRequestFunc: func(id int64, r *discovery.DeltaDiscoveryRequest) error {
			s.join(id, r.GetNode())
			if e := r.GetErrorDetail(); e != nil {
				s.nack(r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), e.GetMessage())
			}
			return nil
		},
		StreamClosedFunc:      s.leave,
		DeltaStreamClosedFunc: s.leave,
		StreamResponseFunc: func(_ context.Context, _ int64, _ *discovery.DiscoveryRequest, r *discovery.DiscoveryResponse) {
			s.metrics.pushed(r.GetTypeUrl(), len(r.GetResources()))
		},
		StreamDeltaResponseFunc: func(_ int64, _ *discovery.DeltaDiscoveryRequest, r *discovery.DeltaDiscoveryResponse) {
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
