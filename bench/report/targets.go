package report

import "fmt"

// Evaluate checks every target of the issue against r and sets r.Targets.
// A target whose measurement is absent from this run is marked missing.
func Evaluate(r *Results) {
	var t []Target
	add := func(name, goal string, have bool, met bool, format string, args ...any) {
		tg := Target{Name: name, Goal: goal, Missing: !have}
		if have {
			tg.Met, tg.Measured = met, fmt.Sprintf(format, args...)
		} else {
			tg.Measured = "not measured"
		}
		t = append(t, tg)
	}
	var hot, noop *ScenarioSummary
	var paced, pacedNoop *LoadRun
	var ecdsa *VerifyCost
	if c := r.Check; c != nil {
		hot, noop = summary(c.Scenarios, "hot"), summary(c.Scenarios, "noop")
		for i := range c.Paced {
			switch c.Paced[i].Scenario {
			case "hot-half-rate":
				paced = &c.Paced[i]
			case "noop-half-rate":
				pacedNoop = &c.Paced[i]
			}
		}
		for i := range c.Verify {
			if c.Verify[i].Key == "ecdsa" && c.Verify[i].ColdCheckUS > 0 {
				ecdsa = &c.Verify[i]
			}
		}
	}
	add("hot Check throughput", "≥ 85% of the no-op server's, same run", hot != nil && noop != nil && noop.RPS > 0,
		hot != nil && hot.RatioToNoop >= 0.85, "%.0f%% (median of the per-round ratios; medians %.0f vs %.0f req/s)", 100*ratio(hot), rps(hot), rps(noop))
	var noopPaced LoadRun
	if pacedNoop != nil {
		noopPaced = *pacedNoop
	}
	var sent, lag float64
	if paced != nil {
		sent, lag = paced.SendP99, paced.SendLagP99
	}
	add("hot Check p99 at half the max rate", "≤ 1 ms", paced != nil, paced != nil && paced.P99 <= 1000,
		"%.2f ms at %.0f req/s, from the schedule (the generator's own lateness p99: %.2f ms; from the send: %.2f ms); "+
			"no-op server at the same rate: %.2f ms (from the send %.2f ms)",
		p99ms(paced), offered(paced), lag/1000, sent/1000, noopPaced.P99/1000, noopPaced.SendP99/1000)
	var flood Flood
	haveFlood := r.Check != nil && r.Check.Flood != nil && r.Check.Flood.P99Ratio > 0
	if haveFlood {
		flood = *r.Check.Flood
	}
	add("hot Check p99 under an admin-port upload flood", "≤ 2× the p99 without, same round", haveFlood, flood.P99Ratio <= 2,
		"%.2f× (median of per-round ratios; req/s %.2f×; %d senders of unauthenticated %d MiB uploads)",
		flood.P99Ratio, flood.RPSRatio, flood.Senders, flood.BodyBytes>>20)
	add("cold Check (ECDSA chain)", "within 1.3× of the bare x509.Verify cost per certificate", ecdsa != nil,
		ecdsa != nil && ecdsa.Ratio <= 1.3, "%.2f× (median of per-round ratios; medians %.0f µs CPU per cold Check, %.0f µs per Verify)",
		verifyField(ecdsa, func(v *VerifyCost) float64 { return v.Ratio }),
		verifyField(ecdsa, func(v *VerifyCost) float64 { return v.ColdCheckUS }),
		verifyField(ecdsa, func(v *VerifyCost) float64 { return v.VerifyUS }))
	rv := r.Revocation
	have := rv != nil && rv.Entries == 1_000_000
	var rev Revocation
	if have {
		rev = *rv
	}
	add("1M-entry CRL: load", "≤ 3 s", have, rev.LoadMedianS <= 3, "%.2f s (crlset.ParseVerified, median)", rev.LoadMedianS)
	add("1M-entry CRL: retained", "≤ 64 MB", have, rev.RetainedMB <= 64, "%.1f MB after GC", rev.RetainedMB)
	worst := max(rev.LookupNS["hit-random"], rev.LookupNS["miss-random"])
	add("1M-entry CRL: lookup", "≤ 200 ns", have, worst <= 200,
		"%.0f ns listed / %.0f ns not listed at random positions; %.0f / %.0f ns when the serials are in the CPU cache; "+
			"one random memory read (the floor of a cache-missing lookup) %.0f ns",
		rev.LookupNS["hit-random"], rev.LookupNS["miss-random"], rev.LookupNS["hit-cached"], rev.LookupNS["miss-cached"], rev.LookupNS["memory-dependent"])
	var big *TranslateRun
	if cp := r.ControlPlane; cp != nil {
		for i := range cp.Translate {
			if cp.Translate[i].Sites == 10000 {
				big = &cp.Translate[i]
			}
		}
	}
	var tr TranslateRun
	if big != nil {
		tr = *big
	}
	add("10,000 sites: full translation", "≤ 1 s", big != nil, tr.TotalMS <= 1000,
		"%.2f s (cold, as after a restart: a new Translator, Translate + Snapshot, median; a one-site change: %.0f ms)",
		tr.TotalMS/1000, tr.IncrementalMedianMS)
	add("10,000 sites: heap", "≤ 1 GB", big != nil, tr.PeakHeapMB <= 1024,
		"%.0f MB in use after GC (snapshot %.0f MB), %.0f MB peak while translating", tr.HeapInuseMB, tr.SnapshotMB, tr.PeakHeapMB)
	var ads *ADSRun
	if r.ControlPlane != nil && r.ControlPlane.ADS != nil && r.ControlPlane.ADS.Sites == 10000 {
		ads = r.ControlPlane.ADS
	}
	var a ADSRun
	if ads != nil {
		a = *ads
	}
	complete := func(s LatencySet) bool { return s.Received == s.Changes && s.Changes > 0 }
	add("API change → Envoy (10,000 sites), state of the world", "p99 ≤ 1 s", ads != nil,
		complete(a.SotW) && a.SotW.P99MS <= 1000, "p99 %.0f ms, p50 %.0f ms (%d/%d changes received)", a.SotW.P99MS, a.SotW.P50MS, a.SotW.Received, a.SotW.Changes)
	add("API change → Envoy (10,000 sites), delta", "p99 ≤ 1 s", ads != nil,
		complete(a.Delta) && a.Delta.P99MS <= 1000, "p99 %.0f ms, p50 %.0f ms (%d/%d changes received)", a.Delta.P99MS, a.Delta.P50MS, a.Delta.Received, a.Delta.Changes)
	add("delta pushes only the changed resources", "every push: the changed Cluster alone", ads != nil,
		complete(a.Delta) && a.Delta.OnlyChanged, "%d..%d resources per push (state of the world: %d..%d)",
		a.Delta.MinPerPush, a.Delta.MaxPerPush, a.SotW.MinPerPush, a.SotW.MaxPerPush)
	parsersTarget(r, add)
	r.Targets = t
}

func summary(s []ScenarioSummary, name string) *ScenarioSummary {
	for i := range s {
		if s[i].Scenario == name {
			return &s[i]
		}
	}
	return nil
}

func ratio(s *ScenarioSummary) float64 {
	if s == nil {
		return 0
	}
	return s.RatioToNoop
}

func rps(s *ScenarioSummary) float64 {
	if s == nil {
		return 0
	}
	return s.RPS
}

func p99ms(r *LoadRun) float64 {
	if r == nil {
		return 0
	}
	return r.P99 / 1000
}

func offered(r *LoadRun) float64 {
	if r == nil {
		return 0
	}
	return r.OfferedRate
}

func verifyField(v *VerifyCost, f func(*VerifyCost) float64) float64 {
	if v == nil {
		return 0
	}
	return f(v)
}
