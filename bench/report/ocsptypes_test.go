package report

import (
	"math"
	"testing"
)

// TestDeriveOCSP: hot-ocsp is paired with crl-1m and cold-ocsp with
// cold-no-ocsp within each round, each run first divided by its own no-op
// baseline; a round missing either run is left out; the hot pairing is
// the target's measurement, limit ≥ 0.95 inclusive.
func TestDeriveOCSP(t *testing.T) {
	run := func(round int, scenario string, rps, noop, cpu float64) LoadRun {
		return LoadRun{Round: round, Scenario: scenario, Target: "mtlsgate", RPS: rps, NoopRPS: noop, CPUPer1000: cpu, P50: rps}
	}
	c := &Check{OCSP: &OCSPCheck{Runs: []OCSPRun{{Round: 1, Scenario: "hot-ocsp", WindowRequests: 2}, {Round: 2, Scenario: "hot-ocsp", WindowRequests: 3}}},
		Runs: []LoadRun{
			run(1, "crl-1m", 100, 100, 0.040), run(1, "hot-ocsp", 90, 100, 0.044), // 0.90, CPU 1.1
			run(2, "crl-1m", 100, 80, 0.040), run(2, "hot-ocsp", 100, 80, 0.040), // 1.00, CPU 1.0
			run(3, "crl-1m", 100, 100, 0.040), run(3, "hot-ocsp", 96, 100, 0.040), // 0.96
			run(4, "hot-ocsp", 50, 100, 0.040), // no crl-1m run: left out
			run(1, "cold-ocsp", 20, 100, 0.4), run(1, "cold-no-ocsp", 60, 120, 0.15),
		}}
	c.DeriveOCSP()
	h, cold := c.OCSP.Hot, c.OCSP.Cold
	if h == nil || len(h.Rounds) != 3 || math.Abs(h.RPSRatio-0.96) > 1e-9 || math.Abs(h.CPURatio-1.0) > 1e-9 {
		t.Fatalf("hot pairing: %+v", h)
	}
	if cold == nil || len(cold.Rounds) != 1 || math.Abs(cold.RPSRatio-0.4) > 1e-9 || math.Abs(cold.CPURatio-0.4/0.15) > 1e-9 {
		t.Fatalf("cold pairing: %+v", cold)
	}
	r := &Results{Check: c}
	Evaluate(r)
	for _, tg := range r.Targets {
		if tg.Name == "hot Check on an OCSP site (answers cached) vs a CRL site" && (!tg.Met || tg.Missing) {
			t.Fatalf("0.96 ≥ 0.95 not met: %+v", tg)
		}
	}
	if total, most, runs := c.OCSP.ocspRequests("hot-ocsp"); total != 5 || most != 3 || runs != 2 {
		t.Fatalf("requests %d, %d, %d", total, most, runs)
	}
	none := &Check{OCSP: &OCSPCheck{}, Runs: []LoadRun{run(1, "crl-1m", 100, 100, 0.04)}}
	if none.DeriveOCSP(); none.OCSP.Hot != nil || none.OCSP.Cold != nil {
		t.Fatalf("paired without the OCSP runs: %+v", none.OCSP)
	}
}

// TestOCSPRefreshDerive: the ratios are the medians of the per-repetition
// ratios of the refresh round over the bare exchanges.
func TestOCSPRefreshDerive(t *testing.T) {
	o := &OCSPRefresh{
		Bare:    []OCSPPhase{{WallSeconds: 1, CPUSeconds: 1}, {WallSeconds: 2, CPUSeconds: 1}, {WallSeconds: 1, CPUSeconds: 2}},
		Refresh: []OCSPPhase{{WallSeconds: 1.2, CPUSeconds: 1.1}, {WallSeconds: 2, CPUSeconds: 1.3}, {WallSeconds: 1.5, CPUSeconds: 2}},
	}
	o.Derive()
	if math.Abs(o.CPURatio-1.1) > 1e-9 || math.Abs(o.WallRatio-1.2) > 1e-9 {
		t.Fatalf("ratios %v, %v, want 1.1, 1.2", o.CPURatio, o.WallRatio)
	}
	if m := Median(o.Refresh); m.WallSeconds != 1.5 || m.CPUSeconds != 1.3 {
		t.Fatalf("median %+v", m)
	}
}
