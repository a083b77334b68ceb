package xds

import (
	"fmt"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"

	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestDeltaAnswersInOrder: an acknowledgement applies its own response
// and drops the earlier ones (Envoy answers in order); a rejection drops
// its response; a response pushed out of the bounded queue unanswered
// makes the node's state unknown, so never current.
func TestDeltaAnswersInOrder(t *testing.T) {
	l := &liveStream{protocol: protocolDelta}
	secret := typeURLs[typeSecret]
	send := func(nonce string, set map[string]string, removed ...string) {
		r := &discovery.DeltaDiscoveryResponse{TypeUrl: secret, Nonce: nonce, SystemVersionInfo: "v" + nonce, RemovedResources: removed}
		for n, v := range set {
			r.Resources = append(r.Resources, &discovery.Resource{Name: n, Version: v})
		}
		l.sentDelta(r)
	}
	answer := func(nonce string, ok bool) bool {
		r := &discovery.DeltaDiscoveryRequest{TypeUrl: secret, ResponseNonce: nonce}
		if !ok {
			r.ErrorDetail = &statuspb.Status{Message: "no"}
		}
		return l.requestDelta(r, time.Now())
	}
	l.requestDelta(&discovery.DeltaDiscoveryRequest{TypeUrl: secret, ResourceNamesSubscribe: []string{"a", "b"}}, time.Now())
	send("1", map[string]string{"a": "1", "b": "1"})
	send("2", map[string]string{"a": "2"})
	send("3", map[string]string{"b": "3"})
	if !answer("2", true) || answer("1", true) || answer("3", false) {
		t.Fatal("answers: 2 acknowledges, 1 is stale, 3 is a rejection")
	}
	ta := l.types[typeSecret]
	if fmt.Sprint(ta.have) != "map[a:2]" || len(ta.pending) != 0 || ta.acked != "v2" {
		t.Fatalf("after the answers: have %v, pending %d, acked %q", ta.have, len(ta.pending), ta.acked)
	}
	if ta.deltaCurrent(map[string]string{"a": "2", "b": "9"}, false) {
		t.Error("b is subscribed and served, and the node does not hold it: it is current")
	}
	if !ta.deltaCurrent(map[string]string{"a": "2"}, false) {
		t.Error("b is subscribed but not served, and a holds the served version: the node is not current")
	}
	if ta.deltaCurrent(map[string]string{"a": "3"}, false) {
		t.Error("a node holding a:2 is current for a:3")
	}
	if ta.deltaCurrent(map[string]string{"a": "2", "c": "1"}, true) {
		t.Error("a wildcard node lacking c is current")
	}
	for i := range maxPendingDelta + 1 {
		send(fmt.Sprint(10+i), map[string]string{"a": "2"})
	}
	answer(fmt.Sprint(10+maxPendingDelta), true)
	if l.types[typeSecret].deltaCurrent(map[string]string{"a": "2"}, false) {
		t.Error("a node whose response was pushed out unanswered is current")
	}
}

// benchServer is a control plane with n SotW streams over 10 fleets,
// every one current.
func benchServer(b *testing.B, n int) *Server {
	s := NewServer(b.Context(), DefaultOptions(), nil, nil)
	s.Update(model.Compile(store.NewState(2, nil, nil, nil), nil))
	for i := range n {
		fleet := fmt.Sprintf("fleet-%d", i%10)
		s.ensureFleet(fleet)
		sm := &stream{serial: fmt.Sprint(i), live: liveStream{protocol: protocolSotW, node: fmt.Sprintf("node-%04d", i), fleet: fleet}}
		snap := s.current.For(fleet)
		for t := range sm.live.types {
			sm.live.types[t].asked, sm.live.types[t].acked = true, snap.GetVersion(typeURLs[t])
		}
		s.streams.add(sm)
	}
	return s
}

// BenchmarkFleetStatus measures the fleets' status with 1,000 connected
// nodes: computed again (after any stream change), and read from the
// cache (every site of a ListSites after the first).
func BenchmarkFleetStatus(b *testing.B) {
	s := benchServer(b, 1000)
	b.Run("recompute", func(b *testing.B) {
		for b.Loop() {
			s.liveGen.Add(1)
			s.liveCache.Store(nil)
			if fs, _ := s.Fleets(nil); len(fs) != 10 || fs[0].Connected != 100 || fs[0].Current != 100 {
				b.Fatalf("%+v", fs[0])
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			s.Fleets([]string{"fleet-3"})
		}
	})
}

// TestDeltaNamesBounded: a node subscribing to more names than
// maxDeltaNames is not remembered past the bound, and its state of the
// type is unknown from then on.
func TestDeltaNamesBounded(t *testing.T) {
	l := &liveStream{protocol: protocolDelta}
	names := make([]string, maxDeltaNames+1)
	for i := range names {
		names[i] = fmt.Sprint("n", i)
	}
	l.requestDelta(&discovery.DeltaDiscoveryRequest{TypeUrl: typeURLs[typeSecret], ResourceNamesSubscribe: names}, time.Now())
	ta := &l.types[typeSecret]
	if len(ta.subs) != maxDeltaNames || !ta.lost || ta.deltaCurrent(map[string]string{}, false) {
		t.Fatalf("kept %d names, lost %v", len(ta.subs), ta.lost)
	}
}
