package report

import (
	"math"
	"testing"
)

// TestDeriveBackends: each round's etcd run is divided by its own no-op
// baseline, then by the bbolt run's ratio of the same round; the median
// is over rounds; a round without both runs is left out; no pair, no
// comparison.
func TestDeriveBackends(t *testing.T) {
	run := func(round int, scenario string, rps, noop, cpu float64) LoadRun {
		return LoadRun{Round: round, Scenario: scenario, Target: "mtlsgate", RPS: rps, NoopRPS: noop, CPUPer1000: cpu}
	}
	c := &Check{Runs: []LoadRun{
		run(1, "hot", 100, 100, 0.040), run(1, "hot-etcd", 90, 100, 0.044), // 0.90, CPU 1.1
		run(2, "hot", 100, 80, 0.040), run(2, "hot-etcd", 100, 80, 0.040), // 1.00, CPU 1.0
		run(3, "hot", 100, 100, 0.040), run(3, "hot-etcd", 120, 100, 0.036), // 1.20, CPU 0.9
		run(4, "hot", 100, 100, 0.040), // no etcd run: left out
		run(4, "cold-ecdsa", 10, 100, 0.5),
	}}
	c.DeriveBackends("one member", map[int]float64{2: 0.25})
	b := c.Backends
	if b == nil || len(b.Rounds) != 3 {
		t.Fatalf("backends: %+v", b)
	}
	if math.Abs(b.RPSRatio-1.0) > 1e-9 || math.Abs(b.CPURatio-1.0) > 1e-9 {
		t.Fatalf("ratios %v, %v, want the medians 1.0, 1.0", b.RPSRatio, b.CPURatio)
	}
	if b.Rounds[1].MemberCPUSeconds != 0.25 || b.Rounds[0].EtcdRPS != 90 || b.Etcd != "one member" {
		t.Fatalf("rounds: %+v", b.Rounds)
	}
	none := &Check{Runs: []LoadRun{run(1, "hot", 100, 100, 0.04)}}
	if none.DeriveBackends("x", nil); none.Backends != nil {
		t.Fatalf("a run without hot-etcd compared backends: %+v", none.Backends)
	}
}
