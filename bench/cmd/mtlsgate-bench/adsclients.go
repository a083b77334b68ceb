package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/report"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

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
func runChanges(f cpFlags, api *harness.API, n, portBase int, sotwSet *report.LatencySet, sotw adsClient, deltaSet *report.LatencySet, delta adsClient) error {
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
			port = portBase
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
