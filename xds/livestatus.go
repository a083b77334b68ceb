package xds

import (
	"slices"
	"strings"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// MaxStatusNodes bounds the nodes a FleetStatus lists.
const MaxStatusNodes = 20

// keptRevisions is how many published configurations per fleet the server
// remembers, to say which revision a node acknowledged.
const keptRevisions = 32

// NodeStatus is one connected node's ADS stream.
type NodeStatus struct {
	Node, Protocol string
	ConnectedAt    time.Time
	// AckedAt is the node's last acknowledgement (zero: none yet).
	AckedAt time.Time
	// AckedRevision is the newest store revision whose configuration is
	// the one the node acknowledged (0: unknown).
	AckedRevision int64
	// Current: the node holds the configuration served now.
	Current bool
}

// FleetStatus is a fleet's nodes connected to this server.
type FleetStatus struct {
	Fleet              string
	Connected, Current int
	// Nodes are at most MaxStatusNodes: those not current first, then by
	// node id.
	Nodes []NodeStatus
}

// revEntry is one published configuration of a fleet: its store
// revision and its type versions.
type revEntry struct {
	rev      int64
	versions [numTypes]string
}

// revHistory remembers each snapshot's last keptRevisions
// configurations, keyed by historyKey; Server.pub guards it. Fleets that
// no site names share the one snapshot for every fleet, and its history:
// the map is bounded by the fleets the store names, not by the fleets
// peers name.
type revHistory map[string][]revEntry

// historyKey is the history of fleet's snapshot in snaps: its own, or
// "" for the snapshot of every fleet.
func historyKey(snaps *fleetSnapshots, fleet string) string {
	if snaps == nil || snaps.fleets[fleet] == nil {
		return ""
	}
	return fleet
}

// record notes that key's snapshot was snap at rev. Versions are content
// hashes: a configuration published again keeps one entry, with the newer
// revision.
func (h revHistory) record(key string, rev int64, snap *cachev3.Snapshot) {
	var e revEntry
	e.rev = rev
	for t, u := range typeURLs {
		e.versions[t] = snap.GetVersion(u)
	}
	list := h[key]
	if i := slices.IndexFunc(list, func(o revEntry) bool { return o.versions == e.versions }); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == keptRevisions {
		list = list[1:]
	}
	h[key] = append(list, e)
}

// revisionOf is the newest revision in list whose versions are acked for
// every type asked (0 when none is remembered).
func revisionOf(list []revEntry, acked [numTypes]string, asked [numTypes]bool) int64 {
	for i := len(list) - 1; i >= 0; i-- {
		match, any := true, false
		for t := range acked {
			if asked[t] {
				any = true
				match = match && list[i].versions[t] == acked[t]
			}
		}
		if match && any {
			return list[i].rev
		}
	}
	return 0
}

// nodeSummary is every fleet's status at one generation of the streams.
type nodeSummary struct {
	gen    int64
	at     time.Time // when it was computed
	rev    int64
	fleets map[string]*FleetStatus
}

// summaryMaxAge is how long a summary is reused although streams changed
// since: during a storm of acknowledgements (every Envoy answering a
// publication) a list of many sites computes it once, not once per site.
const summaryMaxAge = time.Second

// served is what the summary compares the streams with, copied under
// Server.pub so that the streams are read without holding it.
type served struct {
	snaps   *fleetSnapshots
	rev     int64
	history map[string][]revEntry
}

// summary returns the fleets' status, computed again only when a stream,
// an acknowledgement or a publication changed something since the last
// one, and that one is older than summaryMaxAge: the API asks once per
// site, and a list of sites asks many times. One caller computes at a
// time (the others wait for its result); the xDS path never waits for it.
func (s *Server) summary() *nodeSummary {
	fresh := func(c *nodeSummary) bool {
		return c != nil && (c.gen == s.liveGen.Load() || time.Since(c.at) < summaryMaxAge)
	}
	if c := s.liveCache.Load(); fresh(c) {
		return c
	}
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if c := s.liveCache.Load(); fresh(c) {
		return c
	}
	out := &nodeSummary{gen: s.liveGen.Load(), at: time.Now(), fleets: map[string]*FleetStatus{}}
	s.pub.Lock()
	sv := served{snaps: s.current, rev: s.currentRev, history: make(map[string][]revEntry, len(s.history))}
	for k, list := range s.history {
		sv.history[k] = slices.Clone(list)
	}
	s.pub.Unlock()
	out.rev = sv.rev
	for _, sm := range s.streams.all() {
		ns, fleet, ok := sm.live.status(sv)
		if !ok {
			continue
		}
		fs := out.fleets[fleet]
		if fs == nil {
			fs = &FleetStatus{Fleet: fleet}
			out.fleets[fleet] = fs
		}
		fs.Connected++
		if ns.Current {
			fs.Current++
		}
		fs.Nodes = append(fs.Nodes, ns)
	}
	for _, fs := range out.fleets {
		slices.SortFunc(fs.Nodes, func(a, b NodeStatus) int {
			switch {
			case a.Current == b.Current:
			case b.Current:
				return -1
			default:
				return 1
			}
			return strings.Compare(a.Node, b.Node)
		})
		fs.Nodes = slices.Clip(fs.Nodes[:min(len(fs.Nodes), MaxStatusNodes)])
	}
	s.liveCache.Store(out)
	return out
}

// status is the stream's status against sv. A stream whose node has not
// made its first request yet is not reported.
func (l *liveStream) status(sv served) (NodeStatus, string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fleet == "" {
		return NodeStatus{}, "", false
	}
	ns := NodeStatus{Node: l.node, Protocol: l.protocol, ConnectedAt: l.connectedAt, AckedAt: l.ackedAt}
	if sv.snaps != nil {
		ns.Current = l.current(sv.snaps.For(l.fleet))
	}
	if ns.Current {
		ns.AckedRevision = sv.rev
	} else {
		acked, asked := l.ackedVersions()
		ns.AckedRevision = revisionOf(sv.history[historyKey(sv.snaps, l.fleet)], acked, asked)
	}
	return ns, l.fleet, true
}

// Fleets returns the status of the fleets serving a site placed on
// fleets: each of them (with no node, when none is connected), or, for a
// site on every fleet (none named), each fleet with a node connected;
// sorted by fleet. rev is the store revision served now.
func (s *Server) Fleets(fleets []string) (out []FleetStatus, rev int64) {
	sum := s.summary()
	if len(fleets) == 0 {
		for _, fs := range sum.fleets {
			out = append(out, *fs)
		}
	} else {
		for _, f := range fleets {
			fs := FleetStatus{Fleet: f}
			if got := sum.fleets[f]; got != nil {
				fs = *got
			}
			out = append(out, fs)
		}
	}
	slices.SortFunc(out, func(a, b FleetStatus) int { return strings.Compare(a.Fleet, b.Fleet) })
	return out, sum.rev
}
