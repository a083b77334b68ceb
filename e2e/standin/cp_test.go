package standin_test

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mtlsgate/mtlsgate/e2e/standin"
	"github.com/mtlsgate/mtlsgate/xds"
)

// testCP is a small ADS server for these tests, behaving like
// go-control-plane's snapshot cache in ADS mode: one versioned snapshot,
// SotW (full state for LDS/CDS, the requested names for RDS/SDS and no
// answer until every resource of the snapshot is requested, stale nonces
// ignored, a rejected version not resent) and delta (per-resource
// versions, removals). It records ACKs and NACKs so that tests can check
// the stand-in's side of the protocol.
type testCP struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	t    *testing.T
	addr string
	srv  *grpc.Server

	mu      sync.Mutex
	version string
	res     map[string]map[string]proto.Message
	wake    chan struct{}
	acks    map[string][]string // type → ACKed versions
	nacks   []string            // error_detail messages
	stale   int                 // SotW requests ignored for a stale nonce
	streams int
}

func newTestCP(t *testing.T) *testCP {
	cp := &testCP{t: t, res: map[string]map[string]proto.Message{}, wake: make(chan struct{}), acks: map[string][]string{}}
	cp.start("127.0.0.1:0")
	t.Cleanup(cp.stop)
	return cp
}

func (cp *testCP) start(addr string) {
	var ln net.Listener
	var err error
	for range 50 { // a restarted server rebinds the same port
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		cp.t.Fatalf("control plane: %v", err)
	}
	cp.addr = ln.Addr().String()
	cp.srv = grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(cp.srv, cp)
	go func() { _ = cp.srv.Serve(ln) }()
}

// stop stops the server (start(cp.addr) brings it back on the same
// address, with no memory of the streams).
func (cp *testCP) stop() { cp.srv.Stop() }

// set publishes a snapshot of a translation, changed by mutate.
func (cp *testCP) set(version string, r *xds.Resources, mutate func(map[string]map[string]proto.Message)) {
	res := map[string]map[string]proto.Message{
		standin.ListenerType: {}, standin.RouteType: {}, standin.ClusterType: {}, standin.SecretType: {},
	}
	for _, m := range r.Listeners {
		res[standin.ListenerType][m.GetName()] = m
	}
	for _, m := range r.Routes {
		res[standin.RouteType][m.GetName()] = m
	}
	for _, m := range r.Clusters {
		res[standin.ClusterType][m.GetName()] = m
	}
	for _, m := range r.Secrets {
		res[standin.SecretType][m.GetName()] = m
	}
	if mutate != nil {
		mutate(res)
	}
	cp.mu.Lock()
	cp.version, cp.res = version, res
	close(cp.wake)
	cp.wake = make(chan struct{})
	cp.mu.Unlock()
}

func (cp *testCP) snapshot() (string, map[string]map[string]proto.Message, chan struct{}) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.version, cp.res, cp.wake
}

// record counts an ACK or a NACK (also when its nonce is stale).
func (cp *testCP) record(typeURL, version, nack string) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if nack != "" {
		cp.nacks = append(cp.nacks, nack)
	} else {
		cp.acks[typeURL] = append(cp.acks[typeURL], version)
	}
}

func (cp *testCP) counts() (nacks []string, stale int, acks map[string][]string) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return slices.Clone(cp.nacks), cp.stale, maps.Clone(cp.acks)
}

// recvLoop feeds a stream's requests to a channel.
func recvLoop[T any](recv func() (T, error), out chan<- T, errc chan<- error) {
	for {
		r, err := recv()
		if err != nil {
			errc <- err
			return
		}
		out <- r
	}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		t.Errorf("pack: %v", err)
	}
	return a
}

// sotwSub is one type's SotW subscription on a stream.
type sotwSub struct {
	wildcard    bool
	names       []string
	sent        bool
	sentVersion string
	nonce       string
}

// StreamAggregatedResources serves SotW ADS.
func (cp *testCP) StreamAggregatedResources(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	cp.mu.Lock()
	cp.streams++
	cp.mu.Unlock()
	reqs, errc := make(chan *discoveryv3.DiscoveryRequest, 16), make(chan error, 1)
	go recvLoop(s.Recv, reqs, errc)
	subs := map[string]*sotwSub{}
	nonce := 0
	for {
		// Take the wake-up channel first, then push what changed: a
		// snapshot set in between closes the channel taken.
		_, _, wake := cp.snapshot()
		for t, sub := range subs {
			if err := cp.sendSotW(s, t, sub, &nonce, false); err != nil {
				return err
			}
		}
		select {
		case r := <-reqs:
			if err := cp.sotwRequest(s, subs, r, &nonce); err != nil {
				return err
			}
		case <-wake:
		case err := <-errc:
			return err
		}
	}
}

// sotwRequest handles one SotW request: records it, ignores it when its
// nonce is stale, else updates the subscription and answers a change.
func (cp *testCP) sotwRequest(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer, subs map[string]*sotwSub, r *discoveryv3.DiscoveryRequest, nonce *int) error {
	t := r.GetTypeUrl()
	sub := subs[t]
	if r.GetResponseNonce() != "" {
		cp.record(t, r.GetVersionInfo(), r.GetErrorDetail().GetMessage())
	}
	if sub != nil && sub.nonce != "" && r.GetResponseNonce() != sub.nonce {
		cp.mu.Lock()
		cp.stale++
		cp.mu.Unlock()
		return nil
	}
	names := slices.Sorted(slices.Values(r.GetResourceNames()))
	force := sub == nil || (!sub.wildcard && !slices.Equal(names, sub.names))
	if sub == nil {
		sub = &sotwSub{wildcard: len(names) == 0}
		subs[t] = sub
	}
	sub.names = names
	return cp.sendSotW(s, t, sub, nonce, force)
}

func (cp *testCP) sendSotW(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer, t string, sub *sotwSub, nonce *int, force bool) error {
	version, res, _ := cp.snapshot()
	if version == "" || (!force && sub.sent && sub.sentVersion == version) {
		return nil
	}
	// As go-control-plane in ADS mode: no answer until the request names
	// every resource of the type in the snapshot.
	for name := range res[t] {
		if !sub.wildcard && !slices.Contains(sub.names, name) {
			return nil
		}
	}
	resp := &discoveryv3.DiscoveryResponse{VersionInfo: version, TypeUrl: t}
	for _, name := range slices.Sorted(maps.Keys(res[t])) {
		if sub.wildcard || slices.Contains(sub.names, name) {
			resp.Resources = append(resp.Resources, mustAny(cp.t, res[t][name]))
		}
	}
	*nonce++
	resp.Nonce = strconv.Itoa(*nonce)
	sub.sent, sub.sentVersion, sub.nonce = true, version, resp.Nonce
	return s.Send(resp)
}

// deltaSub is one type's delta subscription on a stream.
type deltaSub struct {
	wildcard bool
	names    map[string]bool
	known    map[string]string // what the client holds: name → version
}

// DeltaAggregatedResources serves delta ADS.
func (cp *testCP) DeltaAggregatedResources(s discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	cp.mu.Lock()
	cp.streams++
	cp.mu.Unlock()
	reqs, errc := make(chan *discoveryv3.DeltaDiscoveryRequest, 16), make(chan error, 1)
	go recvLoop(s.Recv, reqs, errc)
	subs := map[string]*deltaSub{}
	nonce := 0
	for {
		_, _, wake := cp.snapshot() // first, as in the SotW loop
		for t, sub := range subs {
			if err := cp.sendDelta(s, t, sub, &nonce); err != nil {
				return err
			}
		}
		select {
		case r := <-reqs:
			cp.deltaRequest(subs, r)
		case <-wake:
		case err := <-errc:
			return err
		}
	}
}

// deltaRequest records a delta request and updates the subscription.
func (cp *testCP) deltaRequest(subs map[string]*deltaSub, r *discoveryv3.DeltaDiscoveryRequest) {
	t := r.GetTypeUrl()
	if r.GetResponseNonce() != "" {
		cp.record(t, "", r.GetErrorDetail().GetMessage())
	}
	sub := subs[t]
	if sub == nil {
		sub = &deltaSub{wildcard: len(r.GetResourceNamesSubscribe()) == 0, names: map[string]bool{},
			known: maps.Clone(r.GetInitialResourceVersions())}
		if sub.known == nil {
			sub.known = map[string]string{}
		}
		subs[t] = sub
	}
	for _, n := range r.GetResourceNamesSubscribe() {
		sub.names[n] = true
	}
	for _, n := range r.GetResourceNamesUnsubscribe() {
		delete(sub.names, n)
		delete(sub.known, n)
	}
}

func (cp *testCP) sendDelta(s discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer, t string, sub *deltaSub, nonce *int) error {
	version, res, _ := cp.snapshot()
	if version == "" {
		return nil
	}
	resp := &discoveryv3.DeltaDiscoveryResponse{SystemVersionInfo: version, TypeUrl: t}
	for _, name := range slices.Sorted(maps.Keys(res[t])) {
		v := resourceVersion(cp.t, res[t][name])
		if (sub.wildcard || sub.names[name]) && sub.known[name] != v {
			resp.Resources = append(resp.Resources, &discoveryv3.Resource{Name: name, Version: v, Resource: mustAny(cp.t, res[t][name])})
			sub.known[name] = v
		}
	}
	for _, name := range slices.Sorted(maps.Keys(sub.known)) {
		if res[t][name] == nil {
			resp.RemovedResources = append(resp.RemovedResources, name)
			delete(sub.known, name)
		}
	}
	if len(resp.Resources) == 0 && len(resp.RemovedResources) == 0 {
		return nil
	}
	*nonce++
	resp.Nonce = strconv.Itoa(*nonce)
	return s.Send(resp)
}

func resourceVersion(t *testing.T, m proto.Message) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Errorf("marshal: %v", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
