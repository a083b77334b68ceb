package report

import (
	"fmt"
	"math"
)

// target is one goal of the harness: a measurement read from the
// Results and the limit it must stay within. The goals are data: a new
// capability adds its row to targets.
type target struct {
	name, goal string
	// limit is met by a value at most limit, or at least limit when
	// atLeast is set.
	limit   float64
	atLeast bool
	// measure reads the value and its description from r; ok is false
	// when the run did not measure it.
	measure func(r *Results) (value float64, text string, ok bool)
}

// targets are the performance goals, in report order.
var targets = []target{
	{"hot Check throughput", "≥ 85% of the no-op server's, same run", 0.85, true, hotThroughput},
	{"hot Check throughput, etcd store vs bbolt", "no difference: ≥ 95% of bbolt's, same round", 0.95, true, backendThroughput},
	{"hot Check p99 at half the max rate", "≤ 1 ms", 1000, false, pacedP99},
	{"hot Check p99 under an admin-port upload flood", "≤ 2× the p99 without, same round", 2, false, floodP99},
	{"hot Check on an OCSP site (answers cached) vs a CRL site", "≥ 95% of the CRL site's throughput, same round", 0.95, true, ocspHotThroughput},
	{"cold Check (ECDSA chain)", "within 1.3× of the bare x509.Verify cost per certificate", 1.3, false, coldECDSA},
	{"1M-entry CRL: load", "≤ 3 s", 3, false, crlLoad},
	{"1M-entry CRL: retained", "≤ 64 MB", 64, false, crlRetained},
	{"1M-entry CRL: lookup", "≤ 200 ns", 200, false, crlLookup},
	{"10,000 sites: full translation", "≤ 1 s", 1000, false, translateFull},
	{"10,000 sites: heap", "≤ 1 GB", 1024, false, translateHeap},
	{"API change → Envoy (10,000 sites), state of the world", "p99 ≤ 1 s", 1000, false, adsLatency(bigADS, sotw)},
	{"API change → Envoy (10,000 sites), delta", "p99 ≤ 1 s", 1000, false, adsLatency(bigADS, delta)},
	{"API change → Envoy of another replica (10,000 sites, etcd), state of the world", "p99 ≤ 1 s", 1000, false, adsLatency(bigReplicaADS, sotw)},
	{"API change → Envoy of another replica (10,000 sites, etcd), delta", "p99 ≤ 1 s", 1000, false, adsLatency(bigReplicaADS, delta)},
	{"delta pushes only the changed resources", "every push: the changed Cluster alone", 1, true, deltaOnlyChanged},
	{"parsers: time per byte, largest vs smallest hostile input", "≤ 1.5× (worst case)", 1.5, false, parsersWorst},
	{"cached Check of a PKI-less certificate among 100,000 identities vs a CA-issued one", "≤ 1.5× the ns/op, same run", 1.5, false,
		microRatio("authz", "BenchmarkCheck/hit/pkiless-100k", "BenchmarkCheck/hit/ecdsa")},
	{"cold Check mapped to an identity (100,000 identities) vs without identities", "≤ 1.2× the ns/op, same run", 1.2, false,
		microRatio("authz", "BenchmarkCheck/miss/ecdsa/mapped-100k", "BenchmarkCheck/miss/ecdsa")},
}

// Evaluate checks every target against r and sets r.Targets. A target
// whose measurement is absent from this run is marked missing.
func Evaluate(r *Results) {
	r.Targets = make([]Target, 0, len(targets))
	for _, tg := range targets {
		t := Target{Name: tg.name, Goal: tg.goal, Measured: "not measured"}
		v, text, ok := tg.measure(r)
		if ok {
			t.Met, t.Measured = tg.meets(v), text
		} else {
			t.Missing = true
		}
		r.Targets = append(r.Targets, t)
	}
}

func (tg target) meets(v float64) bool {
	if tg.atLeast {
		return v >= tg.limit
	}
	return v <= tg.limit
}

func hotThroughput(r *Results) (float64, string, bool) {
	if r.Check == nil {
		return 0, "", false
	}
	hot, noop := summary(r.Check.Scenarios, "hot"), summary(r.Check.Scenarios, "noop")
	if hot == nil || noop == nil || noop.RPS <= 0 {
		return 0, "", false
	}
	return hot.RatioToNoop, fmt.Sprintf("%.0f%% (median of the per-round ratios; medians %.0f vs %.0f req/s)",
		100*hot.RatioToNoop, hot.RPS, noop.RPS), true
}

func backendThroughput(r *Results) (float64, string, bool) {
	if r.Check == nil || r.Check.Backends == nil {
		return 0, "", false
	}
	b := r.Check.Backends
	var member float64
	for _, x := range b.Rounds {
		member = max(member, x.MemberCPUSeconds)
	}
	return b.RPSRatio, fmt.Sprintf("%.0f%% (median of the per-round ratios, each run over its no-op baseline); server CPU per Check %.2f×; "+
		"the etcd member used at most %.2f CPU-s during a run", 100*b.RPSRatio, b.CPURatio, member), true
}

func pacedP99(r *Results) (float64, string, bool) {
	paced, noop := pacedRun(r, "hot-half-rate"), pacedRun(r, "noop-half-rate")
	if paced == nil {
		return 0, "", false
	}
	if noop == nil {
		noop = &LoadRun{}
	}
	return paced.P99, fmt.Sprintf("%.2f ms at %.0f req/s, from the schedule (the generator's own lateness p99: %.2f ms; from the send: %.2f ms); "+
		"no-op server at the same rate: %.2f ms (from the send %.2f ms)",
		paced.P99/1000, paced.OfferedRate, paced.SendLagP99/1000, paced.SendP99/1000, noop.P99/1000, noop.SendP99/1000), true
}

// pacedRun returns the open-loop run of a scenario, or nil.
func pacedRun(r *Results, scenario string) *LoadRun {
	if r.Check == nil {
		return nil
	}
	for i := range r.Check.Paced {
		if r.Check.Paced[i].Scenario == scenario {
			return &r.Check.Paced[i]
		}
	}
	return nil
}

func floodP99(r *Results) (float64, string, bool) {
	if r.Check == nil || r.Check.Flood == nil || r.Check.Flood.P99Ratio <= 0 {
		return 0, "", false
	}
	f := r.Check.Flood
	return f.P99Ratio, fmt.Sprintf("%.2f× (median of per-round ratios; req/s %.2f×; %d senders of unauthenticated %d MiB uploads)",
		f.P99Ratio, f.RPSRatio, f.Senders, f.BodyBytes>>20), true
}

func ocspHotThroughput(r *Results) (float64, string, bool) {
	if r.Check == nil || r.Check.OCSP == nil || r.Check.OCSP.Hot == nil {
		return 0, "", false
	}
	o := r.Check.OCSP
	h := o.Hot
	total, most, runs := o.ocspRequests("hot-ocsp")
	return h.RPSRatio, fmt.Sprintf("%.0f%% (median of the per-round ratios %s, each run over its no-op baseline); server CPU per Check %.2f×; "+
		"the responder got %d requests in the %d measured windows (at most %d in one)",
		100*h.RPSRatio, list(h.rpsRatios(), "%.2f"), h.CPURatio, total, runs, most), true
}

func coldECDSA(r *Results) (float64, string, bool) {
	if r.Check == nil {
		return 0, "", false
	}
	for _, v := range r.Check.Verify {
		if v.Key == "ecdsa" && v.ColdCheckUS > 0 {
			return v.Ratio, fmt.Sprintf("%.2f× (median of per-round ratios; medians %.0f µs CPU per cold Check, %.0f µs per Verify)",
				v.Ratio, v.ColdCheckUS, v.VerifyUS), true
		}
	}
	return 0, "", false
}

// revocation returns the run of the million-entry CRL, or nil.
func revocation(r *Results) *Revocation {
	if r.Revocation == nil || r.Revocation.Entries != 1_000_000 {
		return nil
	}
	return r.Revocation
}

func crlLoad(r *Results) (float64, string, bool) {
	rev := revocation(r)
	if rev == nil {
		return 0, "", false
	}
	return rev.LoadMedianS, fmt.Sprintf("%.2f s (crlset.ParseVerified, median)", rev.LoadMedianS), true
}

func crlRetained(r *Results) (float64, string, bool) {
	rev := revocation(r)
	if rev == nil {
		return 0, "", false
	}
	return rev.RetainedMB, fmt.Sprintf("%.1f MB after GC", rev.RetainedMB), true
}

func crlLookup(r *Results) (float64, string, bool) {
	rev := revocation(r)
	if rev == nil {
		return 0, "", false
	}
	ns := rev.LookupNS
	return max(ns["hit-random"], ns["miss-random"]), fmt.Sprintf("%.0f ns listed / %.0f ns not listed at random positions; %.0f / %.0f ns when the serials are in the CPU cache; "+
		"one random memory read (the floor of a cache-missing lookup) %.0f ns",
		ns["hit-random"], ns["miss-random"], ns["hit-cached"], ns["miss-cached"], ns["memory-dependent"]), true
}

// bigTranslate returns the 10,000-site translation run, or nil.
func bigTranslate(r *Results) *TranslateRun {
	if r.ControlPlane == nil {
		return nil
	}
	for i := range r.ControlPlane.Translate {
		if r.ControlPlane.Translate[i].Sites == 10000 {
			return &r.ControlPlane.Translate[i]
		}
	}
	return nil
}

func translateFull(r *Results) (float64, string, bool) {
	tr := bigTranslate(r)
	if tr == nil {
		return 0, "", false
	}
	return tr.TotalMS, fmt.Sprintf("%.2f s (cold, as after a restart: a new Translator, Translate + Snapshot, median; a one-site change: %.0f ms)",
		tr.TotalMS/1000, tr.IncrementalMedianMS), true
}

func translateHeap(r *Results) (float64, string, bool) {
	tr := bigTranslate(r)
	if tr == nil {
		return 0, "", false
	}
	return tr.PeakHeapMB, fmt.Sprintf("%.0f MB in use after GC (snapshot %.0f MB), %.0f MB peak while translating",
		tr.HeapInuseMB, tr.SnapshotMB, tr.PeakHeapMB), true
}

// bigADS returns the 10,000-site API → ADS run, or nil.
func bigADS(r *Results) *ADSRun {
	if r.ControlPlane == nil || r.ControlPlane.ADS == nil || r.ControlPlane.ADS.Sites != 10000 {
		return nil
	}
	return r.ControlPlane.ADS
}

// bigReplicaADS returns the 10,000-site API → ADS run across replicas on
// etcd, or nil.
func bigReplicaADS(r *Results) *ADSRun {
	if a := bigADS(r); a != nil && a.Replica != nil && a.Replica.Sites == 10000 {
		return a.Replica
	}
	return nil
}

func sotw(a *ADSRun) LatencySet  { return a.SotW }
func delta(a *ADSRun) LatencySet { return a.Delta }

// changeLatency is an ADS mode's p99, infinite unless every change
// arrived.
func changeLatency(s LatencySet) (float64, string) {
	v := s.P99MS
	if s.Changes == 0 || s.Received != s.Changes {
		v = math.Inf(1)
	}
	return v, fmt.Sprintf("p99 %.0f ms, p50 %.0f ms (%d/%d changes received)", s.P99MS, s.P50MS, s.Received, s.Changes)
}

// adsLatency measures the change latency of one ADS mode of one run.
func adsLatency(run func(*Results) *ADSRun, mode func(*ADSRun) LatencySet) func(*Results) (float64, string, bool) {
	return func(r *Results) (float64, string, bool) {
		a := run(r)
		if a == nil {
			return 0, "", false
		}
		v, text := changeLatency(mode(a))
		return v, text, true
	}
}

func deltaOnlyChanged(r *Results) (float64, string, bool) {
	a := bigADS(r)
	if a == nil {
		return 0, "", false
	}
	v := 0.0
	if a.Delta.Changes > 0 && a.Delta.Received == a.Delta.Changes && a.Delta.OnlyChanged {
		v = 1
	}
	return v, fmt.Sprintf("%d..%d resources per push (state of the world: %d..%d)",
		a.Delta.MinPerPush, a.Delta.MaxPerPush, a.SotW.MinPerPush, a.SotW.MaxPerPush), true
}

func summary(s []ScenarioSummary, name string) *ScenarioSummary {
	for i := range s {
		if s[i].Scenario == name {
			return &s[i]
		}
	}
	return nil
}
