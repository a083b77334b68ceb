package xds

import (
	"sync"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// Protocols of an ADS stream, as NodeStatus reports them.
const (
	protocolSotW  = "sotw"
	protocolDelta = "delta"
)

// maxPendingDelta bounds the delta responses of one type a stream keeps
// until Envoy acknowledges or rejects them. Envoy answers each in order;
// one pushed out unanswered makes the node's state of that type unknown
// (never current) for the rest of the stream: delta xDS has no full
// answer to start again from. go-control-plane answers a delta request
// with at most one response, so more than a few are never outstanding.
const maxPendingDelta = 64

// maxDeltaNames bounds the resource names of one type a delta stream
// keeps (subscribed, or held from before the stream): past it, the
// node's state of that type is unknown rather than the memory unbounded.
// It is well above what a fleet is served (two secrets per site).
const maxDeltaNames = 1 << 17

// liveStream is what one ADS stream has been sent and has acknowledged.
// The stream's goroutine writes it (go-control-plane's callbacks); the
// API's status reads copy it under mu.
type liveStream struct {
	mu          sync.Mutex
	node, fleet string
	protocol    string
	connectedAt time.Time
	ackedAt     time.Time // the last acknowledgement of any type
	types       [numTypes]typeAck
}

// typeAck is one resource type's exchange on a stream.
type typeAck struct {
	asked bool // the node asked for the type
	// State of the world: the last response sent and the version the
	// node acknowledged.
	sentNonce, sentVersion, acked string
	// Delta: responses not answered yet, the resources the node holds
	// (acknowledged, or held from before the stream, by name: version),
	// the names it subscribed to, and whether its state is unknown (a
	// response went unanswered, or a bound was passed).
	pending []deltaSent
	have    map[string]string
	subs    map[string]bool
	lost    bool
}

// deltaSent is one delta response: its nonce, the snapshot's type version
// it came from, and the resources it set and removed.
type deltaSent struct {
	nonce, version string
	set            map[string]string
	removed        []string
}

// typeIndex is the index of a type URL in typeURLs, -1 for a type
// mtlsgate does not serve.
func typeIndex(url string) int {
	for i, u := range typeURLs {
		if u == url {
			return i
		}
	}
	return -1
}

// sentSotW records a state-of-the-world response.
func (l *liveStream) sentSotW(r *discovery.DiscoveryResponse) {
	t := typeIndex(r.GetTypeUrl())
	if t < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.types[t].sentNonce, l.types[t].sentVersion = r.GetNonce(), r.GetVersionInfo()
}

// requestSotW records a state-of-the-world request. A request without an
// error carries in version_info the version the node applied last (the
// one it acknowledges, or, on a new stream, the one it holds from
// before); a rejection carries the one it kept, so it changes nothing.
// It reports whether what the node holds changed.
func (l *liveStream) requestSotW(r *discovery.DiscoveryRequest, now time.Time) bool {
	t := typeIndex(r.GetTypeUrl())
	if t < 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ta := &l.types[t]
	ta.asked = true
	answers := r.GetResponseNonce() != "" && r.GetResponseNonce() == ta.sentNonce
	if r.GetErrorDetail() != nil || (r.GetVersionInfo() == ta.acked && !answers) {
		return false
	}
	ta.acked, l.ackedAt = r.GetVersionInfo(), now
	return true
}

// sentDelta records a delta response.
func (l *liveStream) sentDelta(r *discovery.DeltaDiscoveryResponse) {
	t := typeIndex(r.GetTypeUrl())
	if t < 0 {
		return
	}
	d := deltaSent{nonce: r.GetNonce(), version: r.GetSystemVersionInfo(), removed: r.GetRemovedResources(),
		set: make(map[string]string, len(r.GetResources()))}
	for _, res := range r.GetResources() {
		d.set[res.GetName()] = res.GetVersion()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ta := &l.types[t]
	if len(ta.pending) == maxPendingDelta {
		ta.pending, ta.lost = ta.pending[1:], true
	}
	ta.pending = append(ta.pending, d)
}

// requestDelta records a delta request: its subscriptions, and the answer
// to a response (applied when it acknowledges, dropped when it rejects).
func (l *liveStream) requestDelta(r *discovery.DeltaDiscoveryRequest, now time.Time) bool {
	t := typeIndex(r.GetTypeUrl())
	if t < 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ta := &l.types[t]
	ta.asked = true
	if ta.have == nil {
		// The first request of the type: what the node holds from
		// before (go-control-plane sends only what differs).
		ta.have, ta.subs = map[string]string{}, map[string]bool{}
		for n, v := range r.GetInitialResourceVersions() {
			ta.lost = ta.lost || len(ta.have) == maxDeltaNames
			if !ta.lost {
				ta.have[n] = v
			}
		}
	}
	for _, n := range r.GetResourceNamesSubscribe() {
		ta.lost = ta.lost || len(ta.subs) == maxDeltaNames
		if !ta.lost {
			ta.subs[n] = true
		}
	}
	for _, n := range r.GetResourceNamesUnsubscribe() {
		delete(ta.subs, n)
		delete(ta.have, n)
	}
	return ta.answer(r.GetResponseNonce(), r.GetErrorDetail() == nil, func() { l.ackedAt = now })
}

// answer applies Envoy's answer to the pending response with nonce: the
// responses before it were answered already (Envoy answers in order).
func (ta *typeAck) answer(nonce string, ok bool, acked func()) bool {
	for i, d := range ta.pending {
		if d.nonce != nonce {
			continue
		}
		ta.pending = ta.pending[i+1:]
		if !ok {
			return false
		}
		for n, v := range d.set {
			ta.have[n] = v
		}
		for _, n := range d.removed {
			delete(ta.have, n)
		}
		ta.acked = d.version
		acked()
		return true
	}
	return false
}

// current reports whether the node holds snap's version of every type it
// asked for.
func (l *liveStream) current(snap *cachev3.Snapshot) bool {
	if snap == nil {
		return false
	}
	for t := range l.types {
		ta := &l.types[t]
		if !ta.asked {
			continue
		}
		if l.protocol == protocolDelta {
			if !ta.deltaCurrent(snap.VersionMap[typeURLs[t]], t == typeListener || t == typeCluster) {
				return false
			}
		} else if ta.acked != snap.GetVersion(typeURLs[t]) {
			return false
		}
	}
	return true
}

// deltaCurrent reports whether a delta node holds want (name: version):
// every resource it holds and every one it subscribed to that exists at
// want's version, and, for a wildcard type (listeners and clusters, which
// Envoy asks for whole), every resource of want.
func (ta *typeAck) deltaCurrent(want map[string]string, wildcard bool) bool {
	if ta.lost || len(ta.pending) > 0 {
		return false
	}
	for n, v := range ta.have {
		if want[n] != v {
			return false
		}
	}
	if wildcard {
		return len(ta.have) == len(want)
	}
	// The smaller of the two is walked: both are bounded, want by what
	// the fleet is served, subs by maxDeltaNames.
	if len(ta.subs) < len(want) {
		for n := range ta.subs {
			if v, ok := want[n]; ok && ta.have[n] != v {
				return false
			}
		}
		return true
	}
	for n, v := range want {
		if ta.subs[n] && ta.have[n] != v {
			return false
		}
	}
	return true
}

// ackedVersions are the type versions the node acknowledged last (for a
// delta stream, those of the last responses it acknowledged).
func (l *liveStream) ackedVersions() (out [numTypes]string, asked [numTypes]bool) {
	for t := range l.types {
		out[t], asked[t] = l.types[t].acked, l.types[t].asked
	}
	return out, asked
}
