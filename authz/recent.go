package authz

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/contract"
)

// Recent decisions: what the console's site page and the API's SiteStatus
// show of the Check decisions this Service made for a site lately. They
// are counted here, in the Service, not in Metrics, which may be nil or
// shared by several Services; the labels are the metrics' own
// (decisionLabels), so that the console and Prometheus agree.

// DecisionCount is the number of Check decisions with one result and
// reason.
type DecisionCount struct {
	Result string // "allow" or "deny"
	// Reason is the decision log's reason, "ok" when none: the labels of
	// mtlsgate_authz_decisions_total. An allowed request may carry one
	// (permissive mode: why its certificate did not verify).
	Reason string
	Count  int64
}

// RecentWindow is the span RecentDecisions covers (15 minutes).
const RecentWindow = 15 * time.Minute

// RecentDecisions returns the decisions this Service made in the last
// RecentWindow for the site with key host (the key HasSite takes and the
// decision metrics' site label; "" for the requests that named no known
// site), most first (ties: result, then reason), nil when none.
//
// Counts are kept per whole minute of the Service's clock: the window is
// the current, partial minute and the 15 full minutes before it, so it
// reaches between 15 and 16 minutes back.
func (s *Service) RecentDecisions(host string) []DecisionCount {
	return s.recent.counts(host, s.now())
}

// The counts of one decision label set are a ring of recentSlots
// per-minute slots, indexed by minute modulo recentSlots. Each slot is one
// atomic word holding the minute it counts (its stamp, in the high
// stampBits) and its count (the low countBits), so that a slot moves on to
// a new minute and restarts its count in one compare-and-swap: no count
// is lost to a reset race, and a reader never sees a new stamp with an
// old count. Slots are reset lazily, by the first decision of a minute
// that finds a stale stamp; a reader ignores slots whose stamp is out of
// the window.
const (
	recentSlots = 16 // the current, partial minute and 15 full ones
	countBits   = 36 // 68 billion decisions per minute, label set and replica
	stampBits   = 64 - countBits
	// maxStamp is the last minute a slot can hold: in the year 2480.
	maxStamp = 1<<stampBits - 1
)

// minuteRing counts the decisions of one label set by minute.
type minuteRing [recentSlots]atomic.Uint64

// add counts one decision in minute (unix minutes, 0..maxStamp).
//
// The common case, a slot already stamped with minute, is one load and
// one atomic add. The add is not conditional on the stamp it loaded: if
// another recorder moved the slot on in between (to a minute recentSlots
// later: only a recorder stalled for a quarter of an hour sees that), the
// count lands in the newer minute. A decision whose slot already holds a
// later minute (the clock stepped back by recentSlots minutes or more) is
// dropped, until the clock reaches that minute again.
func (r *minuteRing) add(minute uint64) {
	slot := &r[minute%recentSlots]
	for {
		v := slot.Load()
		switch stamp := v >> countBits; {
		case stamp == minute:
			slot.Add(1)
			return
		case stamp > minute:
			return
		}
		if slot.CompareAndSwap(v, minute<<countBits|1) {
			return
		}
	}
}

// sum is the number of decisions counted in minutes first..last.
func (r *minuteRing) sum(first, last uint64) int64 {
	var n uint64
	for i := range r {
		v := r[i].Load()
		if stamp := v >> countBits; stamp >= first && stamp <= last {
			n += v & (1<<countBits - 1)
		}
	}
	return int64(n)
}

// minuteOf is t in unix minutes, clamped to what a slot can hold.
func minuteOf(t time.Time) uint64 {
	m := t.Unix() / 60
	switch {
	case m < 0:
		return 0
	case m > maxStamp:
		return maxStamp
	}
	return uint64(m)
}

// recentCounts is a Service's recent decisions: per site key, a
// minuteRing per result and reason. Its sites are those of the policy in
// use and "" (requests naming no known site), set by follow at each
// policy load before the policy is published: a Check never adds a site,
// a deleted site's counts go at the load that drops it, and a Check still
// deciding on the previous policy finds no entry for a deleted site and
// is not counted. Result and reason come from a fixed list, so every key
// is bounded as the decision metrics' are.
//
// The sites are a plain map, copied at each load and read through an
// atomic pointer: one string hash on the Check path (a sync.Map keyed by
// decisionKey spent most of a record hashing the struct in an
// interface). Each site's result and reason pairs are a short list
// scanned in order.
type recentCounts struct {
	sites atomic.Pointer[map[string]*siteRecent]
}

// follow makes sites (and "") the sites counted, keeping the counts of
// those already counted. Loads call it one at a time.
func (c *recentCounts) follow(sites map[string]*sitePolicy) {
	var old map[string]*siteRecent
	if p := c.sites.Load(); p != nil {
		old = *p
	}
	next := make(map[string]*siteRecent, len(sites)+1)
	for key := range sites {
		next[key] = old[key]
	}
	next[""] = old[""]
	for key, s := range next {
		if s == nil {
			next[key] = new(siteRecent)
		}
	}
	c.sites.Store(&next)
}

// siteRecent is one site's rings, one per result and reason seen. The
// list is copied on write (a new label set is rare) and read without a
// lock; mu serialises the writers.
type siteRecent struct {
	mu    sync.Mutex
	rings atomic.Pointer[[]*labelRing]
}

// labelRing is the ring of one result and reason.
type labelRing struct {
	allow  bool
	reason contract.Reason
	minuteRing
}

// record counts a decision with labels k made at now; a site not
// counted (deleted since the decision's policy) is not. In steady state
// it takes no lock and allocates nothing.
func (c *recentCounts) record(k decisionKey, now time.Time) {
	if s := c.site(k.site); s != nil {
		s.ring(k.allow, k.reason).add(minuteOf(now))
	}
}

// site is the counts of the site with key; nil when it is not counted.
func (c *recentCounts) site(key string) *siteRecent {
	if p := c.sites.Load(); p != nil {
		return (*p)[key]
	}
	return nil
}

// find is the ring of allow and reason in l; nil when none.
func find(l *[]*labelRing, allow bool, reason contract.Reason) *minuteRing {
	if l == nil {
		return nil
	}
	for _, r := range *l {
		if r.allow == allow && r.reason == reason {
			return &r.minuteRing
		}
	}
	return nil
}

// ring returns the ring of allow and reason, adding it when it is new.
func (s *siteRecent) ring(allow bool, reason contract.Reason) *minuteRing {
	if r := find(s.rings.Load(), allow, reason); r != nil {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.rings.Load()
	if r := find(cur, allow, reason); r != nil {
		return r
	}
	var next []*labelRing
	if cur != nil {
		next = slices.Clone(*cur)
	}
	r := &labelRing{allow: allow, reason: reason}
	next = append(next, r)
	s.rings.Store(&next)
	return &r.minuteRing
}

// counts are the decisions for site in the window ending at now, most
// first (ties: result, then reason); nil when none.
func (c *recentCounts) counts(site string, now time.Time) []DecisionCount {
	s := c.site(site)
	if s == nil {
		return nil
	}
	last := minuteOf(now)
	first := last - min(last, recentSlots-1)
	var out []DecisionCount
	if l := s.rings.Load(); l != nil {
		for _, r := range *l {
			if n := r.sum(first, last); n > 0 {
				result, reason := decisionLabels(decisionKey{site, r.allow, r.reason})
				out = append(out, DecisionCount{Result: result, Reason: reason, Count: n})
			}
		}
	}
	slices.SortFunc(out, func(a, b DecisionCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Result, b.Result), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}
