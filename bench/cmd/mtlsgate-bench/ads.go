package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/bench/report"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// undoStack holds what a measurement must undo when it ends, last first.
type undoStack []func()

func (u *undoStack) push(f func()) { *u = append(*u, f) }

func (u *undoStack) run() {
	for i := len(*u) - 1; i >= 0; i-- {
		(*u)[i]()
	}
}

// adsServer is the real binary the ADS measurement runs against.
type adsServer struct {
	srv     *harness.Proc
	serving harness.Serving
	api     *harness.API
}

// measureADS seeds the real binary through its API, connects an ADS
// client (state of the world, then delta) and times single-site changes
// from the API call's return to the client receiving the changed cluster.
func measureADS(f cpFlags, fx *fixtures) (*report.ADSRun, error) {
	out := &report.ADSRun{Sites: f.adsSites, CAs: len(fx.cas), SeedConcurrency: f.seedConc,
		Change: "UpdateSite origin_url (new port): changes the site's origin/<host> Cluster only; " +
			"a state-of-the-world and a delta client (two connections, one fleet) wait for each change"}
	var undo undoStack
	defer undo.run()
	work := f.work
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "mtlsgate-bench-ads-"); err != nil {
			return nil, err
		}
		undo.push(func() { os.RemoveAll(work) })
	}
	s, err := startSeeded(f, fx, work, out, &undo)
	if err != nil {
		return nil, err
	}
	if f.seedOnly {
		return out, nil
	}
	if err := measureChanges(f, s, out, &undo); err != nil {
		return nil, err
	}
	if rss, err := procstat.PeakRSS(s.srv.PID()); err == nil {
		out.ServerPeakRSSMB = float64(rss) / mb
	}
	return out, nil
}

// startSeeded starts the real binary on a store holding the fixtures: a
// copy of one seeded earlier (f.seedCache), or seeded now through the API
// (and then kept, with f.seedCache, for later runs).
func startSeeded(f cpFlags, fx *fixtures, work string, out *report.ADSRun, undo *undoStack) (*adsServer, error) {
	cfgPath, err := serveConfig(work, 10000)
	if err != nil {
		return nil, err
	}
	seedDir := filepath.Join(os.TempDir(), fmt.Sprintf("mtlsgate-bench-seed-%d-%d-%d-v2", f.adsSites, f.casPerSite, len(fx.cas)))
	var seed seedRecord
	if f.seedCache && report.ReadJSON(filepath.Join(seedDir, "seed.json"), &seed) == nil && seed.Sites == f.adsSites {
		if err := copyDir(filepath.Join(seedDir, "data"), filepath.Join(work, "data")); err != nil {
			return nil, err
		}
		out.SeedCached, out.SeedSeconds, out.SeedDate = true, seed.Seconds, seed.Date
		logf("using the store seeded through the API on %s (%.0f s then) from %s", seed.Date, seed.Seconds, seedDir)
	}
	argv := []string{f.bin, "serve", "--config", cfgPath}
	s, err := startADSServer(argv, filepath.Join(work, "mtlsgate.log"), undo)
	if err != nil || out.SeedCached {
		return s, err
	}
	if err := seedAPI(f, fx, s.api, out); err != nil {
		return nil, err
	}
	if !f.seedCache {
		return s, nil
	}
	// Keep a copy of the seeded store for later runs.
	if err := s.srv.Stop(30 * time.Second); err != nil {
		return nil, err
	}
	_ = os.RemoveAll(seedDir)
	if err := copyDir(filepath.Join(work, "data"), filepath.Join(seedDir, "data")); err != nil {
		return nil, err
	}
	rec := seedRecord{Sites: f.adsSites, Seconds: out.SeedSeconds, Date: time.Now().UTC().Format(time.RFC3339)}
	if err := report.WriteJSON(filepath.Join(seedDir, "seed.json"), rec); err != nil {
		return nil, err
	}
	return startADSServer(argv, filepath.Join(work, "mtlsgate-2.log"), undo)
}

// startADSServer starts the binary and dials its API.
func startADSServer(argv []string, logPath string, undo *undoStack) (*adsServer, error) {
	srv, serving, err := harness.StartMtlsgate(argv, nil, "", logPath)
	if err != nil {
		return nil, err
	}
	undo.push(func() { srv.Stop(30 * time.Second) })
	api, err := harness.DialAPI(serving)
	if err != nil {
		return nil, err
	}
	undo.push(func() { api.Close() })
	return &adsServer{srv: srv, serving: serving, api: api}, nil
}

// measureChanges connects a state-of-the-world and a delta ADS client,
// Envoy nodes of the bench fleet with a node certificate as `mtlsgate envoy
// bootstrap` would get them, each on its own connection as two Envoys of
// the fleet would be, and times the changes.
func measureChanges(f cpFlags, s *adsServer, out *report.ADSRun, undo *undoStack) error {
	n := f.adsSites
	nodeTLS, err := s.api.NodeTLS(benchNode.GetCluster(), benchNode.GetId())
	if err != nil {
		return err
	}
	dial := func() (discovery.AggregatedDiscoveryServiceClient, error) {
		conn, err := grpc.NewClient(s.serving.XDS, grpc.WithTransportCredentials(credentials.NewTLS(nodeTLS)),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
		if err != nil {
			return nil, err
		}
		undo.push(func() { conn.Close() })
		return discovery.NewAggregatedDiscoveryServiceClient(conn), nil
	}
	ads, err := dial()
	if err != nil {
		return err
	}
	var settle time.Time
	var sotw *sotwClient
	if err := harness.UntilServed(time.Minute, func() (err error) {
		settle = time.Now()
		sotw, err = newSotW(ads, n, 5*time.Minute)
		return err
	}); err != nil {
		return err
	}
	out.SettleSeconds = time.Since(settle).Seconds()
	out.SotW = sotw.initial
	logf("state of the world: all %d clusters after %s", n, time.Since(settle).Round(time.Millisecond))
	ads2, err := dial()
	if err != nil {
		return err
	}
	delta, err := newDelta(ads2, n, 5*time.Minute)
	if err != nil {
		return err
	}
	out.Delta = delta.initial
	defer sotw.close()
	defer delta.close()
	return runChanges(f, s.api, n, &out.SotW, sotw, &out.Delta, delta)
}

// seedRecord describes a cached seeded store.
type seedRecord struct {
	Sites   int     `json:"sites"`
	Seconds float64 `json:"seconds"`
	Date    string  `json:"date"`
}

// seedAPI creates the sites, then the CAs, through the API. Each CA is
// created with the list of its sites (CreateClientCA assigns it to them
// atomically): the API's batch, far cheaper than assigning CAs site by
// site while the store holds thousands of sites.
func seedAPI(f cpFlags, fx *fixtures, api *harness.API, out *report.ADSRun) error {
	n := f.adsSites
	start := time.Now()
	var done atomic.Int64
	if err := parallel(n, f.seedConc, func(i int) error {
		s := fx.newSite(i, f.casPerSite)
		s.CaIds = nil
		ctx, cancel := api.Ctx(time.Minute)
		defer cancel()
		if _, err := api.CreateSite(ctx, &pb.CreateSiteRequest{Site: s}); err != nil {
			return err
		}
		if d := done.Add(1); d%2000 == 0 {
			logf("seeded %d sites in %s", d, time.Since(start).Round(time.Second))
		}
		return nil
	}); err != nil {
		return fmt.Errorf("seed sites: %w", err)
	}
	sitesOf := make([][]string, len(fx.cas))
	for i := range n {
		for _, c := range siteCAs(i, f.casPerSite, len(fx.cas)) {
			sitesOf[c] = append(sitesOf[c], siteName(i))
		}
	}
	if err := parallel(len(fx.cas), f.seedConc, func(i int) error {
		ctx, cancel := api.Ctx(time.Minute)
		defer cancel()
		_, err := api.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: fmt.Sprintf("client-ca-%04d", i), Bundle: fx.cas[i].PEM(), Sites: sitesOf[i]})
		return err
	}); err != nil {
		return fmt.Errorf("seed CAs: %w", err)
	}
	out.SeedSeconds = time.Since(start).Seconds()
	out.SeedDate = time.Now().UTC().Format(time.RFC3339)
	logf("seeded %d sites, then %d CAs assigned to them, through the API in %s", n, len(fx.cas), time.Since(start).Round(time.Millisecond))
	return nil
}

// copyDir copies the regular files of src into dst (created).
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs f(0..n-1) on conc goroutines; the first error stops it.
func parallel(n, conc int, f func(int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range max(conc, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// push is one response as the client saw it.
type push struct {
	at        time.Time
	resources map[string][]byte // name → encoded Cluster
	removed   int
	bytes     int
	err       error
}

// adsClient is one ADS stream subscribed to every cluster.
type adsClient interface {
	recv(timeout time.Duration) (push, error)
	ack() error
	close()
}

const clusterType = resourcev3.ClusterType

var benchNode = &corev3.Node{Id: "bench-envoy", Cluster: "bench"}

// clusterName reads a Cluster's name (field 1) without decoding it.
func clusterName(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			return string(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}

// receiver reads a stream on its own goroutine, stamping each message.
type receiver[T any] struct {
	ch     chan push
	cancel context.CancelFunc
	last   T
	lastMu sync.Mutex
}

// start receives responses on one goroutine, keeping the last (for the
// ACK) and passing each, decoded, to the channel.
func (r *receiver[T]) start(recv func() (T, error), decode func(T) push) {
	go func() {
		for {
			resp, err := recv()
			at := time.Now()
			if err != nil {
				r.ch <- push{err: err}
				return
			}
			r.lastMu.Lock()
			r.last = resp
			r.lastMu.Unlock()
			p := decode(resp)
			p.at = at
			r.ch <- p
		}
	}()
}

func (r *receiver[T]) recv(timeout time.Duration) (push, error) {
	select {
	case p := <-r.ch:
		return p, p.err
	case <-time.After(timeout):
		return push{}, fmt.Errorf("no push within %s", timeout)
	}
}

func (r *receiver[T]) close() { r.cancel() }

// sotwClient is a state-of-the-world ADS stream.
type sotwClient struct {
	receiver[*discovery.DiscoveryResponse]
	stream  discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	initial report.LatencySet
}

func decodeAnys(anys []*anypb.Any) map[string][]byte {
	m := make(map[string][]byte, len(anys))
	for _, a := range anys {
		m[clusterName(a.GetValue())] = a.GetValue()
	}
	return m
}

func newSotW(ads discovery.AggregatedDiscoveryServiceClient, want int, timeout time.Duration) (*sotwClient, error) {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	c := &sotwClient{stream: stream}
	c.ch, c.cancel = make(chan push, 16), cancel
	c.start(stream.Recv, func(r *discovery.DiscoveryResponse) push {
		return push{resources: decodeAnys(r.GetResources()), bytes: proto.Size(r)}
	})
	t0 := time.Now()
	if err := stream.Send(&discovery.DiscoveryRequest{Node: benchNode, TypeUrl: clusterType}); err != nil && !errors.Is(err, io.EOF) {
		// io.EOF: the server ended the stream; its status comes from Recv.
		c.close()
		return nil, err
	}
	if err := waitInitial(c, want, timeout, t0, &c.initial); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *sotwClient) ack() error {
	c.lastMu.Lock()
	r := c.last
	c.lastMu.Unlock()
	return c.stream.Send(&discovery.DiscoveryRequest{Node: benchNode, TypeUrl: clusterType,
		VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()})
}

// deltaClient is a delta ADS stream.
type deltaClient struct {
	receiver[*discovery.DeltaDiscoveryResponse]
	stream  discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	initial report.LatencySet
}

func newDelta(ads discovery.AggregatedDiscoveryServiceClient, want int, timeout time.Duration) (*deltaClient, error) {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	c := &deltaClient{stream: stream}
	c.ch, c.cancel = make(chan push, 16), cancel
	c.start(stream.Recv, func(r *discovery.DeltaDiscoveryResponse) push {
		m := make(map[string][]byte, len(r.GetResources()))
		for _, res := range r.GetResources() {
			m[res.GetName()] = res.GetResource().GetValue()
		}
		return push{resources: m, removed: len(r.GetRemovedResources()), bytes: proto.Size(r)}
	})
	t0 := time.Now()
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: benchNode, TypeUrl: clusterType}); err != nil && !errors.Is(err, io.EOF) {
		// io.EOF: the server ended the stream; its status comes from Recv.
		c.close()
		return nil, err
	}
	if err := waitInitial(c, want, timeout, t0, &c.initial); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *deltaClient) ack() error {
	c.lastMu.Lock()
	r := c.last
	c.lastMu.Unlock()
	return c.stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: clusterType, ResponseNonce: r.GetNonce()})
}

// waitInitial waits for a response holding want clusters (the control
// plane may still be translating the seeded sites), ACKing each.
func waitInitial(c adsClient, want int, timeout time.Duration, t0 time.Time, into *report.LatencySet) error {
	deadline := time.Now().Add(timeout)
	have := 0
	for {
		p, err := c.recv(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("initial response (%d of %d clusters so far): %w", have, want, err)
		}
		have = len(p.resources)
		if err := c.ack(); err != nil {
			return err
		}
		if have >= want {
			into.InitialMS = float64(p.at.Sub(t0).Microseconds()) / 1e3
			into.InitialCount = have
			return nil
		}
	}
}

// runChanges makes f.changes single-site changes and times each until
// each client (both connected at once) holds the changed cluster.
func runChanges(f cpFlags, api *harness.API, n int, sotwSet *report.LatencySet, sotw adsClient, deltaSet *report.LatencySet, delta adsClient) error {
	sets := []*report.LatencySet{sotwSet, deltaSet}
	clients := []adsClient{sotw, delta}
	for _, set := range sets {
		set.Changes, set.OnlyChanged, set.MinPerPush = f.changes, true, -1
	}
	ports := map[int]int{}
	for k := range f.changes {
		i := (k*7919 + 13) % n
		port := ports[i]
		if port == 0 {
			port = 8080
		}
		port++
		ports[i] = port
		ctx, cancel := api.Ctx(time.Minute)
		_, err := api.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: siteName(i), OriginUrl: originURL(i, port)},
			UpdateMask: []string{"origin_url"}})
		cancel()
		returned := time.Now()
		if err != nil {
			return fmt.Errorf("change %d: %w", k, err)
		}
		name := "origin/" + siteName(i)
		for c, set := range sets {
			if err := awaitChange(clients[c], set, name, uint32(port), returned, f.changeWait); err != nil {
				return err
			}
		}
		time.Sleep(f.changeGap)
	}
	for c, set := range sets {
		s := slices.Clone(set.SamplesMS)
		slices.Sort(s)
		if len(s) > 0 {
			q := func(p float64) float64 { return s[max(0, min(len(s)-1, int(float64(len(s))*p+0.999999)-1))] }
			set.P50MS, set.P90MS, set.P99MS, set.MaxMS = q(0.5), q(0.9), q(0.99), s[len(s)-1]
		}
		logf("ADS %s, %d changes: received %d, p50 %.0f ms p99 %.0f ms max %.0f ms, resources per push %d..%d, only changed %t",
			[]string{"state of the world", "delta"}[c], set.Changes, set.Received, set.P50MS, set.P99MS, set.MaxMS, set.MinPerPush, set.MaxPerPush, set.OnlyChanged)
	}
	return nil
}

// awaitChange waits until c receives cluster name with port, recording the
// time since returned and what each push held.
func awaitChange(c adsClient, set *report.LatencySet, name string, port uint32, returned time.Time, timeout time.Duration) error {
	for {
		p, err := c.recv(timeout)
		if err != nil {
			if set.FirstProblem == "" {
				set.FirstProblem = fmt.Sprintf("%s: %v", name, err)
			}
			return nil
		}
		if err := c.ack(); err != nil {
			return err
		}
		set.MaxPushBytes = max(set.MaxPushBytes, p.bytes)
		if set.MinPerPush < 0 || len(p.resources) < set.MinPerPush {
			set.MinPerPush = len(p.resources)
		}
		set.MaxPerPush = max(set.MaxPerPush, len(p.resources))
		b, ok := p.resources[name]
		if !ok || clusterPort(b) != port {
			set.ExtraMessages++
			continue
		}
		if len(p.resources) != 1 || p.removed != 0 {
			set.OnlyChanged = false
		}
		set.Received++
		set.SamplesMS = append(set.SamplesMS, float64(p.at.Sub(returned).Microseconds())/1e3)
		return nil
	}
}

// clusterPort is the port of a Cluster's first endpoint.
func clusterPort(b []byte) uint32 {
	var c clusterv3.Cluster
	if proto.Unmarshal(b, &c) != nil {
		return 0
	}
	for _, e := range c.GetLoadAssignment().GetEndpoints() {
		for _, lb := range e.GetLbEndpoints() {
			return lb.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
		}
	}
	return 0
}
