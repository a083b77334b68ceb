package report

// ocspCheckMarkdown shows the OCSP scenarios against their baselines and
// what the responder saw.
func ocspCheckMarkdown(p printer, c *Check) {
	o := c.OCSP
	p("")
	p("OCSP (%s; the server's revocation.ocsp.max_entries %d, fewer than the %d cold certificates cycled, so that each cold "+
		"certificate's answer has been dropped when the cycle comes back to it; every other OCSP setting is the default):",
		o.Responder, o.MaxEntries, o.ColdCerts)
	for _, x := range []struct {
		what string
		pr   *Pairing
	}{{"Hot Check on the OCSP site, every answer cached, against the CRL site's hot Check", o.Hot},
		{"Cold Check on the OCSP site, every answer asked of the responder, against the same certificates on a site without OCSP", o.Cold}} {
		if x.pr == nil {
			continue
		}
		pr := x.pr
		p("")
		p("%s (`%s` vs `%s`): req/s %.2f× (each run over the no-op run right before it), server CPU per Check %.2f×, p50 %.2f× "+
			"(medians of the per-round ratios):", x.what, pr.Scenario, pr.Baseline, pr.RPSRatio, pr.CPURatio, pr.P50Ratio)
		p("")
		p("| round | %s req/s | %s req/s | no-op req/s (before each) | ratio | CPU-s / 1000 | baseline CPU-s / 1000 | p50 / p99 µs | baseline p50 / p99 µs |",
			pr.Scenario, pr.Baseline)
		p("|---:|---:|---:|---|---:|---:|---:|---|---|")
		for i, r := range pr.Rounds {
			p("| %d | %.0f | %.0f | %.0f / %.0f | %.2f | %.3f | %.3f | %.0f / %.0f | %.0f / %.0f |", r.Round, r.RPS, r.BaseRPS, r.NoopRPS, r.BaseNoopRPS,
				pr.rpsRatios()[i], r.CPUPer1000, r.BaseCPUPer1000, r.P50, r.P99, r.BaseP50, r.BaseP99)
		}
	}
	if s := summary(c.Scenarios, "cold-ocsp"); s != nil {
		p("")
		p("Cold Check on the OCSP site, medians over rounds: p50 %.0f µs, p90 %.0f µs, p99 %.0f µs, p99.9 %.0f µs; %.3f CPU-s of the server per 1,000 Checks.",
			s.P50, s.P90, s.P99, s.P999, s.CPUPer1000)
	}
	p("")
	p("Responder requests in each run (a hot run is preceded by warm passes that Check every certificate until one pass finds every answer cached):")
	p("")
	p("| round | scenario | warm passes | warm requests | requests in the run (warm-up included) | in the measured window | Checks in the window | requests per Check | responder cores |")
	p("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range o.Runs {
		p("| %d | %s | %d | %d | %d | %d | %d | %.3f | %.2f |", r.Round, r.Scenario, r.WarmPasses, r.WarmRequests, r.RunRequests, r.WindowRequests,
			r.Checks, r.PerCheck, r.ResponderCPUUtil)
	}
}

// ocspRefreshMarkdown shows the cost of one refresh round.
func ocspRefreshMarkdown(p printer, o *OCSPRefresh) {
	bare, fill, ref := Median(o.Bare), Median(o.Fill), Median(o.Refresh)
	p("")
	p("### OCSP: refreshing %d cached answers", o.Answers)
	p("")
	p("An `ocspcache.Cache` with the server's defaults (Concurrency %d) and a responder on loopback (%s). "+
		"Baseline: the same %d exchanges without the cache (ocspcheck request, GET through the same kind of outbound client, "+
		"ocspcheck.Verify), %d at a time. Fill: the first Lookup of every answer, %d at a time. Refresh: one round of all of them, "+
		"made by `Run` once the cache's clock has passed their refresh time. Medians of %d repetitions; CPU is the measuring process's "+
		"(the mtlsgate side) and the responder's:", o.Concurrency, o.Setup, o.Answers, o.Concurrency, o.Concurrency, len(o.Refresh))
	p("")
	p("| pass | wall s | answers/s | CPU s | CPU µs per answer | responder CPU s | responder requests |")
	p("|---|---:|---:|---:|---:|---:|---:|")
	for _, x := range []struct {
		name string
		ph   OCSPPhase
	}{{"baseline: bare exchanges", bare}, {"fill (first lookups)", fill}, {"refresh round", ref}} {
		p("| %s | %.2f | %.0f | %.2f | %.0f | %.2f | %d |", x.name, x.ph.WallSeconds, rate(o.Answers, x.ph.WallSeconds), x.ph.CPUSeconds,
			x.ph.CPUPerAnswerUS, x.ph.ResponderCPUSeconds, x.ph.Requests)
	}
	p("")
	p("Refresh round over the bare exchanges: CPU %.2f×, wall %.2f× (medians of the per-repetition ratios). A cached lookup (`Cached`) %.0f ns.",
		o.CPURatio, o.WallRatio, o.CachedNS)
}

func rate(n int, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}
