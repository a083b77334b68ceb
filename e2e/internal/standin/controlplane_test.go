package standin_test

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	gcplog "github.com/envoyproxy/go-control-plane/pkg/log"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/xds"
)

// The tests run two real control planes, never a hand-written one:
//
//   - mtlsgateCP is mtlsgate's own, xds.Server, for everything that
//     serves mtlsgate's translation of a State;
//   - snapshotCP is go-control-plane's ADS server and snapshot cache (ADS
//     mode, as inside xds.Server) serving snapshots a test builds itself,
//     for configurations mtlsgate would never emit.

// listen binds addr, retrying a while: a restarted control plane rebinds
// the port its predecessor just released.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("control plane: %v", err)
	return nil
}

// mtlsgateCP runs mtlsgate's control plane, xds.Server, on loopback.
type mtlsgateCP struct {
	t          *testing.T
	opts       xds.Options
	serverOpts []grpc.ServerOption
	addr       string

	srv     *xds.Server
	g       *grpc.Server
	cancel  context.CancelFunc
	metrics *prometheus.Registry
}

func startMtlsgateCP(t *testing.T, opts xds.Options, serverOpts ...grpc.ServerOption) *mtlsgateCP {
	cp := &mtlsgateCP{t: t, opts: opts, serverOpts: serverOpts}
	cp.start("127.0.0.1:0")
	t.Cleanup(cp.stop)
	return cp
}

// start runs a new xds.Server on addr, as a (re)started mtlsgate: it
// serves nothing until Update and knows no stream.
func (cp *mtlsgateCP) start(addr string) {
	ln := listen(cp.t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	cp.addr, cp.cancel, cp.metrics = ln.Addr().String(), cancel, prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(logWriter(safeLogf(cp.t)), nil))
	cp.srv = xds.NewServer(ctx, cp.opts, log, xds.NewMetrics(cp.metrics))
	cp.g = grpc.NewServer(cp.serverOpts...)
	cp.srv.Register(cp.g)
	go func() { _ = cp.g.Serve(ln) }()
}

// stop stops the server (start(cp.addr) brings up a new one).
func (cp *mtlsgateCP) stop() {
	cp.g.Stop()
	cp.cancel()
}

// nacks is what mtlsgate_xds_nacks_total says: the NACKs the control
// plane saw since it started.
func (cp *mtlsgateCP) nacks(t *testing.T) float64 {
	t.Helper()
	mfs, err := cp.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "mtlsgate_xds_nacks_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// logWriter sends slog's text lines to a test log.
type logWriter func(string, ...any)

func (w logWriter) Write(p []byte) (int, error) {
	w("%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// snapshotCP serves snapshots a test builds, with go-control-plane's own
// ADS server and snapshot cache in ADS mode, to the node testNodeID. Its
// server callbacks record the stand-in's side of the protocol.
type snapshotCP struct {
	addr  string
	cache cachev3.SnapshotCache
	wire  *wireLog
}

func startSnapshotCP(t *testing.T, serverOpts ...grpc.ServerOption) *snapshotCP {
	logf := safeLogf(t)
	cp := &snapshotCP{wire: newWireLog()}
	cp.cache = cachev3.NewSnapshotCache(true, cachev3.IDHash{}, gcplog.LoggerFuncs{
		WarnFunc:  func(f string, a ...any) { logf("go-control-plane: "+f, a...) },
		ErrorFunc: func(f string, a ...any) { logf("go-control-plane: "+f, a...) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	g := grpc.NewServer(serverOpts...)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(ctx, cp.cache, cp.wire.callbacks()))
	ln := listen(t, "127.0.0.1:0")
	cp.addr = ln.Addr().String()
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(func() { g.Stop(); cancel() })
	return cp
}

// set serves res (type → name → resource) as snapshot version.
func (cp *snapshotCP) set(t *testing.T, version string, res map[string]map[string]proto.Message) {
	t.Helper()
	items := map[string][]types.Resource{}
	for typ, byName := range res {
		items[typ] = []types.Resource{}
		for _, name := range slices.Sorted(maps.Keys(byName)) {
			items[typ] = append(items[typ], byName[name])
		}
	}
	snap, err := cachev3.NewSnapshot(version, items)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.cache.SetSnapshot(context.Background(), testNodeID, snap); err != nil {
		t.Fatal(err)
	}
}

// answer is an ACK or a NACK, with the version of the response it
// answers.
type answer struct {
	typeURL, version string
	nack             string // error_detail message; "" for an ACK
}

// wireLog records, through go-control-plane's server callbacks, every
// ACK and NACK the stand-in sends, and the SotW requests the server
// ignores because their nonce is stale.
type wireLog struct {
	mu      sync.Mutex
	version map[nonceKey]string // each response sent → its version
	last    map[typeKey]string  // SotW: per stream and type, the last nonce sent
	answers []answer
	stale   int
	wake    chan struct{} // closed at every answer
}

type nonceKey struct {
	delta  bool
	stream int64
	nonce  string
}

type typeKey struct {
	stream  int64
	typeURL string
}

func newWireLog() *wireLog {
	return &wireLog{version: map[nonceKey]string{}, last: map[typeKey]string{}, wake: make(chan struct{})}
}

// callbacks feed the log. go-control-plane calls the response callbacks
// before sending, so a request always finds the response it answers.
func (w *wireLog) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamResponseFunc: func(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, r *discoveryv3.DiscoveryResponse) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.version[nonceKey{false, id, r.GetNonce()}] = r.GetVersionInfo()
			w.last[typeKey{id, r.GetTypeUrl()}] = r.GetNonce()
		},
		StreamRequestFunc: func(id int64, r *discoveryv3.DiscoveryRequest) error {
			if r.GetResponseNonce() == "" {
				return nil
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			// As go-control-plane's SotW ADS server decides it.
			if last, ok := w.last[typeKey{id, r.GetTypeUrl()}]; ok && last != r.GetResponseNonce() {
				w.stale++
			}
			w.record(r.GetTypeUrl(), w.version[nonceKey{false, id, r.GetResponseNonce()}], r.GetErrorDetail().GetMessage())
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, _ *discoveryv3.DeltaDiscoveryRequest, r *discoveryv3.DeltaDiscoveryResponse) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.version[nonceKey{true, id, r.GetNonce()}] = r.GetSystemVersionInfo()
		},
		StreamDeltaRequestFunc: func(id int64, r *discoveryv3.DeltaDiscoveryRequest) error {
			if r.GetResponseNonce() == "" {
				return nil
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			w.record(r.GetTypeUrl(), w.version[nonceKey{true, id, r.GetResponseNonce()}], r.GetErrorDetail().GetMessage())
			return nil
		},
	}
}

// record adds an answer (also when its nonce is stale). w.mu is held.
func (w *wireLog) record(typeURL, version, nack string) {
	w.answers = append(w.answers, answer{typeURL: typeURL, version: version, nack: nack})
	close(w.wake)
	w.wake = make(chan struct{})
}

// waitACK waits until version of typeURL has been ACKed.
func (w *wireLog) waitACK(t *testing.T, typeURL, version string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		acked := slices.Contains(w.answers, answer{typeURL: typeURL, version: version})
		wake := w.wake
		w.mu.Unlock()
		if acked {
			return
		}
		select {
		case <-wake:
		case <-timeout:
			t.Fatalf("no ACK of %s version %q", typeURL, version)
		}
	}
}

// counts returns the ACKed versions by type, the NACKs, and the number of
// stale-nonce requests.
func (w *wireLog) counts() (acks map[string][]string, nacks []answer, stale int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	acks = map[string][]string{}
	for _, a := range w.answers {
		if a.nack != "" {
			nacks = append(nacks, a)
		} else {
			acks[a.typeURL] = append(acks[a.typeURL], a.version)
		}
	}
	return acks, nacks, w.stale
}
