package report

import "testing"

// TestEvaluate: every target is listed, in order; an absent measurement is
// missing, not missed; limits are inclusive, in the target's direction;
// an ADS run that lost a change misses whatever its latency.
func TestEvaluate(t *testing.T) {
	r := &Results{}
	Evaluate(r)
	if len(r.Targets) != len(targets) {
		t.Fatalf("%d targets, want %d", len(r.Targets), len(targets))
	}
	for i, tg := range r.Targets {
		if tg.Name != targets[i].name || !tg.Missing || tg.Met || tg.Measured != "not measured" {
			t.Fatalf("empty run, target %d: %+v", i, tg)
		}
	}
	met := func(r *Results, name string) bool {
		t.Helper()
		Evaluate(r)
		for _, tg := range r.Targets {
			if tg.Name == name {
				if tg.Missing {
					t.Fatalf("%s missing", name)
				}
				return tg.Met
			}
		}
		t.Fatalf("no target %s", name)
		return false
	}
	check := func(ratio float64) *Results {
		return &Results{Check: &Check{Scenarios: []ScenarioSummary{{Scenario: "noop", RPS: 100}, {Scenario: "hot", RPS: 85, RatioToNoop: ratio}}}}
	}
	if !met(check(0.85), "hot Check throughput") || met(check(0.84), "hot Check throughput") {
		t.Fatal("throughput limit is not ≥ 0.85")
	}
	backends := func(ratio float64) *Results {
		return &Results{Check: &Check{Backends: &Backends{RPSRatio: ratio}}}
	}
	if name := "hot Check throughput, etcd store vs bbolt"; !met(backends(0.95), name) || met(backends(0.94), name) {
		t.Fatal("backend limit is not ≥ 0.95")
	}
	micro := func(pkiless float64) *Results {
		return &Results{Micro: &Micro{Rows: []MicroRow{
			{Name: "authz.BenchmarkCheck/hit/ecdsa-2", Metrics: map[string]float64{"ns/op": 1000}},
			{Name: "authz.BenchmarkCheck/hit/pkiless-100k-2", Metrics: map[string]float64{"ns/op": pkiless}},
			{Name: "authz.BenchmarkCheck/hit/ecdsa/deny-100k-2", Metrics: map[string]float64{"ns/op": 9e9}},
		}}}
	}
	if name := "cached Check of a PKI-less certificate among 100,000 identities vs a CA-issued one"; !met(micro(1500), name) || met(micro(1501), name) {
		t.Fatal("PKI-less limit is not ≤ 1.5× hit/ecdsa (or the wrong rows were read)")
	}
	ads := func(p99 float64, received int) *Results {
		set := LatencySet{Changes: 100, Received: received, P99MS: p99}
		return &Results{ControlPlane: &ControlPlane{ADS: &ADSRun{Sites: 10000, SotW: set, Delta: set}}}
	}
	name := "API change → Envoy (10,000 sites), delta"
	if !met(ads(1000, 100), name) || met(ads(1001, 100), name) || met(ads(10, 99), name) {
		t.Fatal("ADS limit is not p99 ≤ 1 s with every change received")
	}
	replica := func(p99 float64) *Results {
		r := ads(10, 100)
		r.ControlPlane.ADS.Replica = &ADSRun{Sites: 10000, SotW: LatencySet{Changes: 100, Received: 100, P99MS: p99}}
		return r
	}
	name = "API change → Envoy of another replica (10,000 sites, etcd), state of the world"
	if !met(replica(1000), name) || met(replica(1001), name) {
		t.Fatal("replica ADS limit is not p99 ≤ 1 s")
	}
}
