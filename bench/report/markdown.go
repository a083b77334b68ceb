package report

import (
	"fmt"
	"slices"
	"strings"
)

// Markdown renders r as bench/results/latest.md.
func Markdown(r *Results) string {
	var b strings.Builder
	p := printer(func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) })
	headerMarkdown(p, r.Machine)
	targetsMarkdown(p, r.Targets)
	if c := r.Check; c != nil {
		checkMarkdown(p, c)
	}
	if cp := r.ControlPlane; cp != nil {
		controlPlaneMarkdown(p, cp)
	}
	if rv := r.Revocation; rv != nil {
		revocationMarkdown(p, rv)
	}
	if mi := r.Micro; mi != nil {
		microMarkdown(p, mi)
	}
	if ps := r.Parsers; ps != nil && len(ps.Sizes) > 1 {
		parsersMarkdown(p, ps)
	}
	var profiles []Profile
	if r.Check != nil {
		profiles = append(profiles, r.Check.Profiles...)
	}
	if r.ControlPlane != nil {
		profiles = append(profiles, r.ControlPlane.Profiles...)
	}
	if r.Revocation != nil {
		profiles = append(profiles, r.Revocation.Profiles...)
	}
	profilesMarkdown(p, profiles)
	return b.String()
}

// headerMarkdown renders the title and the machine table.
func headerMarkdown(p printer, m Machine) {
	dirty := ""
	if m.Dirty {
		dirty = " (work tree had uncommitted changes)"
	}
	p("# mtlsgate benchmark results")
	p("")
	p("Written by `make bench` (bench/cmd/mtlsgate-bench); the method is in docs/performance.md.")
	p("")
	p("| machine | |")
	p("|---|---|")
	p("| date | %s |", m.Date)
	p("| commit | `%s`%s |", m.Commit, dirty)
	p("| CPU | %d × %s |", m.NProc, m.CPUModel)
	p("| memory | %d MB |", m.MemTotalMB)
	p("| kernel | %s |", m.Kernel)
	p("| Go | %s %s |", m.GoVersion, m.GOOSArch)
}

// targetsMarkdown renders the targets table.
func targetsMarkdown(p printer, targets []Target) {
	p("")
	p("## Targets")
	p("")
	p("| target | goal | measured | |")
	p("|---|---|---|---|")
	for _, t := range targets {
		verdict := "missed"
		switch {
		case t.Missing:
			verdict = "not measured"
		case t.Met:
			verdict = "met"
		}
		p("| %s | %s | %s | **%s** |", t.Name, t.Goal, t.Measured, verdict)
	}
}

// profilesMarkdown renders the top entries of each CPU profile.
func profilesMarkdown(p printer, profiles []Profile) {
	if len(profiles) == 0 {
		return
	}
	p("")
	p("## CPU profiles")
	p("")
	p("Top entries by cumulative time (`go tool pprof -top -cum`), then by own time (`-top`); the files are in profiles/.")
	for _, pr := range profiles {
		p("")
		p("### %s (`%s`)", pr.Name, pr.File)
		p("")
		p("```")
		p("%s", trimTop(pr.Top, 25))
		p("```")
		p("")
		p("```")
		p("%s", trimTop(pr.Flat, 12))
		p("```")
	}
}

type printer func(format string, args ...any)

func checkMarkdown(p printer, c *Check) {
	s := c.Setup
	p("")
	p("## 1. Check under load")
	p("")
	p("Server: %s; GOMAXPROCS=%d, CPUs %q. Load generator: GOMAXPROCS=%d, CPUs %q (pinned with taskset: %t). "+
		"%d callers over %d connections, %.1f s warm-up then %.1f s measured per run, %d round(s) (%s). "+
		"authz.cache_size %d.",
		s.Server, s.ServerGOMAXPROCS, s.ServerCPUs, s.ClientGOMAXPROCS, s.ClientCPUs, s.Pinned,
		s.Callers, s.Conns, s.WarmupSeconds, s.DurationSeconds, s.Rounds, s.Order, s.CacheSize)
	p("")
	p("| scenario | req/s | × no-op | p50 µs | p90 µs | p99 µs | p99.9 µs | server CPU-s / 1000 | server cores | client cores | errors |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, x := range c.Scenarios {
		p("| %s | %.0f | %.2f | %.0f | %.0f | %.0f | %.0f | %.3f | %.2f | %.2f | %d |",
			x.Scenario, x.RPS, x.RatioToNoop, x.P50, x.P90, x.P99, x.P999, x.CPUPer1000, x.ServerCPUUtil, x.ClientCPUUtil, x.Errors+x.Unexpected)
	}
	p("")
	for _, x := range c.Scenarios {
		p("- **%s**: %s", x.Scenario, x.Description)
	}
	pacedMarkdown(p, c)
	if fl := c.Flood; fl != nil {
		floodMarkdown(p, fl)
	}
	if b := c.Backends; b != nil {
		backendsMarkdown(p, b)
	}
	if c.OCSP != nil {
		ocspCheckMarkdown(p, c)
	}
	verifyMarkdown(p, c.Verify)
	p("")
	p("Every run. `softirq` is kernel time in interrupts (loopback TCP for both sides, not in either process's CPU time); " +
		"`others` is the machine's CPU time not accounted to the two measured processes (other processes, kernel threads); " +
		"`steal` is what the hypervisor took:")
	p("")
	p("| round | scenario | target | req/s | p50 µs | p99 µs | server CPU-s / 1000 | server cores | client cores | softirq cores | others cores | steal %% |")
	p("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, x := range slices.Concat(c.Runs, c.Paced) {
		p("| %d | %s | %s | %.0f | %.0f | %.0f | %.3f | %.2f | %.2f | %.2f | %.2f | %.1f |",
			x.Round, x.Scenario, x.Target, x.RPS, x.P50, x.P99, x.CPUPer1000, x.ServerCPUUtil, x.ClientCPUUtil, x.IRQCPUUtil, x.OtherCPUUtil, x.StealPct)
	}
	p("")
	p("Server peak RSS %.0f MB; setup through the API %.1f s, of which the CRL upload until ext_authz had loaded it %.1f s. Load average %s at start, %s at end.%s",
		c.ServerPeakRSSMB, c.SetupSeconds, c.CRLUploadSeconds, c.LoadAvgStart, c.LoadAvgEnd, commitNote(c.Part))
}

// pacedMarkdown renders the open-loop runs.
func pacedMarkdown(p printer, c *Check) {
	if len(c.Paced) == 0 {
		return
	}
	p("")
	p("Fixed rate (open loop, %d senders, latency from each request's scheduled time; then from its actual send, which leaves out "+
		"the generator's own lateness):", c.Setup.PacedCallers)
	p("")
	p("| run | offered req/s | done req/s | p50 µs | p90 µs | p99 µs | p99.9 µs | generator lateness p50 / p99 µs | from send p50 / p99 / p99.9 µs |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, x := range c.Paced {
		p("| %s (%s) | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f / %.0f | %.0f / %.0f / %.0f |",
			x.Scenario, x.Target, x.OfferedRate, x.RPS, x.P50, x.P90, x.P99, x.P999, x.SendLagP50, x.SendLagP99, x.SendP50, x.SendP99, x.SendP999)
	}
}

// verifyMarkdown renders cold Check against bare chain verification.
func verifyMarkdown(p printer, costs []VerifyCost) {
	if len(costs) == 0 {
		return
	}
	p("")
	p("Cold Check against bare chain verification (same certificates; CPU time). Baseline: standard verification, self-signed CA as root, " +
		"the intermediate as intermediate. For context: every CA certificate as a root and no intermediates (one signature; what ext_authz " +
		"runs on a miss), and every CA certificate as root and intermediate (every possible chain):")
	p("")
	p("| chain | x509 Verify µs (per round) | parse + Verify µs | anchors only µs | roots + intermediates µs | cold Check µs | hot Check µs | cold / Verify (per round) | (cold − hot) / Verify |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, v := range costs {
		p("| %s | %.0f (%s) | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f (%s) | %.2f |", v.Key, v.VerifyUS, list(v.VerifyRounds, "%.0f"), v.ParseVerify,
			v.AnchorsUS, v.AllPathsUS, v.ColdCheckUS, v.HotCheckUS, v.Ratio, list(v.RoundRatios, "%.2f"), v.MarginalOver)
	}
	p("")
	p("Medians; the ratio is taken within each round (bare Verify is measured right before that round's cold run), then the median.")
}

// incrementalNote says how many one-site changes each size had.
func incrementalNote(runs []TranslateRun) string {
	if len(runs) == 0 {
		return "no run"
	}
	return fmt.Sprintf("%d changes per size, Translate + Snapshot", len(runs[0].IncrementalMS))
}

func controlPlaneMarkdown(p printer, cp *ControlPlane) {
	p("")
	p("## 2. Control plane at scale")
	p("")
	p("Sites with %d client CAs each, drawn from %d CAs; four in five enforce, one permissive. In-process, GOMAXPROCS=%d.", cp.CAsPerSite, cp.CAPool, cp.GOMAXPROCS)
	p("")
	p("Full translation is cold: a new `xds.Translator` each time, as after a restart. A one-site change is translated")
	p("incrementally by the Translator of the last full one (%s), as the server does on an API change.", incrementalNote(cp.Translate))
	p("Translate hashes each resource as it builds it; Snapshot only packages them.")
	p("")
	p("| sites | resources | Translate ms | Snapshot ms | total ms (median) | one-site change ms (median) | State MB | snapshot + cache MB | heap in use MB | peak heap MB |")
	p("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|")
	for _, t := range cp.Translate {
		p("| %d | %d | %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f |", t.Sites, t.Resources, list(t.TranslateMS, "%.0f"), list(t.SnapshotMS, "%.0f"),
			t.TotalMS, t.IncrementalMedianMS, t.StateMB, t.SnapshotMB, t.HeapInuseMB, t.PeakHeapMB)
	}
	if a := cp.ADS; a != nil {
		adsMarkdown(p, a)
		if r := a.Replica; r != nil {
			adsMarkdown(p, r)
		}
	}
	p("")
	p("Load average %s at start, %s at end.%s", cp.LoadAvgStart, cp.LoadAvgEnd, commitNote(cp.Part))
}

// adsMarkdown shows one API → ADS run.
func adsMarkdown(p printer, a *ADSRun) {
	p("")
	if a.Store == "" {
		cached := ""
		if a.SeedCached {
			cached = fmt.Sprintf(" (by an earlier run on %s, whose store copy this run started from)", a.SeedDate)
		}
		p("API → ADS on the real binary: %d sites and %d CAs seeded through the API in %.0f s%s, %d concurrent calls; "+
			"the first ADS stream had every cluster %.1f s after the start. Change: %s.", a.Sites, a.CAs, a.SeedSeconds, cached, a.SeedConcurrency, a.SettleSeconds, a.Change)
	} else {
		p("The same across replicas: the seeded store backed up from the running server, restored into etcd in %.1f s "+
			"(`mtlsgate backup`, `mtlsgate restore`); %s. The first ADS stream had every cluster %.1f s after the start. Change: %s.",
			a.RestoreSeconds, a.Store, a.SettleSeconds, a.Change)
	}
	p("")
	p("| mode | changes | received | p50 ms | p90 ms | p99 ms | max ms | resources per push | largest push | initial response |")
	p("|---|---:|---:|---:|---:|---:|---:|---|---:|---|")
	for _, x := range []struct {
		name string
		s    LatencySet
	}{{"state of the world", a.SotW}, {"delta", a.Delta}} {
		p("| %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %d..%d | %.1f MB | %d resources in %.0f ms |", x.name, x.s.Changes, x.s.Received,
			x.s.P50MS, x.s.P90MS, x.s.P99MS, x.s.MaxMS, x.s.MinPerPush, x.s.MaxPerPush, float64(x.s.MaxPushBytes)/(1<<20), x.s.InitialCount, x.s.InitialMS)
		if x.s.FirstProblem != "" {
			p("")
			p("%s: %s", x.name, x.s.FirstProblem)
		}
	}
	p("")
	p("Server peak RSS %.0f MB.", a.ServerPeakRSSMB)
}

func revocationMarkdown(p printer, r *Revocation) {
	p("")
	p("## 3. Revocation at scale")
	p("")
	p("A CRL of %d entries (%.1f MB DER, random serials up to 159 bits).", r.Entries, r.DERMB)
	p("")
	p("| measure | value |")
	p("|---|---:|")
	p("| load, crlset.ParseVerified (signature + set), median of %s s | %.2f s |", list(r.LoadSeconds, "%.2f"), r.LoadMedianS)
	p("| crlset.Parse (no signature) | %.2f s |", r.ParseOnlyS)
	p("| authz.Compile of a State holding it | %.2f s |", r.CompileSeconds)
	p("| peak heap during a load | %.0f MB |", r.PeakHeapMB)
	p("| allocated by a load | %.0f MB |", r.AllocMB)
	p("| retained after GC (Set.RetainedBytes) | %.1f MB (%.1f MB) |", r.RetainedMB, r.RetainedBytes)
	for _, k := range []string{"hit-random", "miss-random", "hit-cached", "miss-cached"} {
		p("| lookup, %s | %.0f ns |", k, r.LookupNS[k])
	}
	if r.LookupNS["memory-dependent"] > 0 {
		p("| baseline: one random read of a region the set's size, dependent (memory latency) / independent | %.0f / %.0f ns |",
			r.LookupNS["memory-dependent"], r.LookupNS["memory-independent"])
	}
	if r.X509ParseS > 0 {
		p("| baseline x509.ParseRevocationList | %.2f s, retains %.0f MB |", r.X509ParseS, r.X509RetainedMB)
		p("| pki.ParseVerifiedCRL (what an API upload runs) | %.2f s |", r.StoreValidateS)
	}
	p("")
	p("Load average %s at start, %s at end.%s", r.LoadAvgStart, r.LoadAvgEnd, commitNote(r.Part))
	if r.OCSPRefresh != nil {
		ocspRefreshMarkdown(p, r.OCSPRefresh)
	}
}

func microMarkdown(p printer, m *Micro) {
	p("")
	p("## 4. Micro-benchmarks")
	p("")
	note := "raw output: " + m.File
	if m.Benchstat != "" {
		note += "; benchstat against the previous micro.txt: " + m.Benchstat
	}
	p("Medians of `go test -bench . -benchmem -count 5` (%s).", note)
	p("")
	p("| benchmark | ns/op | B/op | allocs/op | other |")
	p("|---|---:|---:|---:|---|")
	for _, row := range m.Rows {
		var other []string
		var units []string
		for u := range row.Metrics {
			if u != "ns/op" && u != "B/op" && u != "allocs/op" {
				units = append(units, u)
			}
		}
		slices.Sort(units)
		for _, u := range units {
			other = append(other, fmt.Sprintf("%.4g %s", row.Metrics[u], u))
		}
		p("| %s | %.4g | %.0f | %.0f | %s |", row.Name, row.Metrics["ns/op"], row.Metrics["B/op"], row.Metrics["allocs/op"], strings.Join(other, ", "))
	}
}

func commitNote(p Part) string {
	if p.Commit == "" {
		return ""
	}
	return fmt.Sprintf(" Started %s at commit `%.12s`.", p.Started.Format("15:04:05Z"), p.Commit)
}

func list(xs []float64, format string) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf(format, x))
	}
	return strings.Join(s, ", ")
}

// trimTop keeps the header and the first n entries of pprof -top output.
func trimTop(top string, n int) string {
	lines := strings.Split(top, "\n")
	for i, l := range lines {
		if strings.Contains(l, "flat%") {
			end := min(len(lines), i+1+n)
			return strings.Join(lines[i:end], "\n")
		}
	}
	return top
}

// backendsMarkdown shows the hot-etcd scenario against the same round's
// hot run on bbolt.
func backendsMarkdown(p printer, b *Backends) {
	p("")
	p("Hot Check on a second server whose store is etcd (%s), against the same round's hot run on the bbolt server: "+
		"req/s %.2f× (each run over the no-op run right before it), server CPU per Check %.2f× (medians of the per-round ratios):",
		b.Etcd, b.RPSRatio, b.CPURatio)
	p("")
	p("| round | bbolt req/s | etcd req/s | bbolt no-op req/s | etcd no-op req/s | bbolt CPU-s / 1000 | etcd CPU-s / 1000 | bbolt p99 µs | etcd p99 µs | etcd member CPU-s |")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range b.Rounds {
		p("| %d | %.0f | %.0f | %.0f | %.0f | %.3f | %.3f | %.0f | %.0f | %.2f |", r.Round, r.BboltRPS, r.EtcdRPS, r.BboltNoopRPS, r.EtcdNoopRPS,
			r.BboltCPUPer1000, r.EtcdCPUPer1000, r.BboltP99, r.EtcdP99, r.MemberCPUSeconds)
	}
}

// floodMarkdown shows the admin-flood scenario against the same round's
// hot run.
func floodMarkdown(p printer, fl *Flood) {
	p("")
	p("Hot Check while %d senders POST unauthenticated %d MiB uploads to the admin port (at most %.0f/s each), against the same "+
		"round's hot run without the flood: p99 %.2f×, req/s %.2f× (medians of the per-round ratios). Bytes sent is what the "+
		"flooder managed to send over HTTP/2, i.e. what the server let in:", fl.Senders, fl.BodyBytes>>20, fl.RatePerSender, fl.P99Ratio, fl.RPSRatio)
	p("")
	p("| round | hot p99 µs | flooded p99 µs | hot req/s | flooded req/s | uploads | refused | other | errors | MiB sent | server RSS before → peak MB |")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range fl.Rounds {
		p("| %d | %.0f | %.0f | %.0f | %.0f | %d | %d | %d | %d | %.1f | %.0f → %.0f |", r.Round, r.HotP99, r.FloodP99, r.HotRPS, r.FloodRPS,
			r.Requests, r.Refused, r.Other, r.Errors, float64(r.BytesSent)/(1<<20), r.RSSBeforeMB, r.RSSPeakMB)
	}
}
