package report

// OCSPCheck is the detail of the check part's OCSP scenarios: hot Check
// on a site that checks OCSP (every answer cached) against the hot Check
// of the CRL site, and cold Check on it (every answer fetched from a
// responder on loopback) against the same certificates on a site that
// does not check OCSP, each paired within a round.
type OCSPCheck struct {
	// Responder describes the responder the certificates name.
	Responder string `json:"responder"`
	// MaxEntries is the server's revocation.ocsp.max_entries: enough for
	// the hot certificates, far fewer than the cold ones, so that a cold
	// certificate's answer is gone when the cycle comes back to it.
	MaxEntries int       `json:"max_entries"`
	ColdCerts  int       `json:"cold_certs"`
	Runs       []OCSPRun `json:"runs"`
	// Hot is hot-ocsp against crl-1m, Cold cold-ocsp against
	// cold-no-ocsp (nil when either of the pair did not run).
	Hot  *Pairing `json:"hot,omitempty"`
	Cold *Pairing `json:"cold,omitempty"`
}

// OCSPRun is what the responder saw during one run of an OCSP scenario.
type OCSPRun struct {
	Round    int    `json:"round"`
	Scenario string `json:"scenario"`
	// WarmPasses and WarmRequests: before a hot run, every certificate is
	// Checked once per pass until a pass finds every answer cached; the
	// responder got WarmRequests meanwhile.
	WarmPasses   int   `json:"warm_passes,omitempty"`
	WarmRequests int64 `json:"warm_requests,omitempty"`
	// RunRequests arrived during the whole run (warm-up included),
	// WindowRequests during its measured window, in which Checks calls
	// ended: PerCheck is their ratio.
	RunRequests    int64   `json:"run_requests"`
	WindowRequests int64   `json:"window_requests"`
	Checks         int64   `json:"checks"`
	PerCheck       float64 `json:"requests_per_check"`
	// ResponderCPUUtil is the responder's CPU use in the window, in cores.
	ResponderCPUUtil float64 `json:"responder_cpu_util"`
	// Lookups are the server's OCSP lookups during the run (warm-up
	// included) by result (mtlsgate_ocsp_lookups_total: hit, fetched,
	// timeout, backoff, overloaded), those that happened.
	Lookups map[string]int64 `json:"lookups,omitempty"`
}

// Pairing compares a scenario with its baseline round by round. Each
// throughput is first divided by the no-op run made right before it,
// which takes the machine's drift out.
type Pairing struct {
	Scenario string      `json:"scenario"`
	Baseline string      `json:"baseline"`
	Rounds   []PairRound `json:"rounds"`
	// RPSRatio, CPURatio and P50Ratio are medians over rounds of the
	// scenario's over the baseline's (throughput normalised as above,
	// server CPU per Check, median latency).
	RPSRatio float64 `json:"rps_ratio"`
	CPURatio float64 `json:"cpu_ratio"`
	P50Ratio float64 `json:"p50_ratio"`
}

// PairRound is one round of a Pairing.
type PairRound struct {
	Round          int     `json:"round"`
	RPS            float64 `json:"rps"`
	NoopRPS        float64 `json:"noop_rps"`
	BaseRPS        float64 `json:"base_rps"`
	BaseNoopRPS    float64 `json:"base_noop_rps"`
	CPUPer1000     float64 `json:"cpu_s_per_1000"`
	BaseCPUPer1000 float64 `json:"base_cpu_s_per_1000"`
	P50            float64 `json:"p50_us"`
	P99            float64 `json:"p99_us"`
	BaseP50        float64 `json:"base_p50_us"`
	BaseP99        float64 `json:"base_p99_us"`
}

// pair compares scenario with baseline in every round that ran both, or
// returns nil.
func pair(runs []LoadRun, scenario, baseline string) *Pairing {
	byRound := map[int]*PairRound{}
	var order []int
	for _, r := range runs {
		if r.Scenario != scenario && r.Scenario != baseline {
			continue
		}
		p := byRound[r.Round]
		if p == nil {
			p = &PairRound{Round: r.Round}
			byRound[r.Round] = p
			order = append(order, r.Round)
		}
		if r.Scenario == scenario {
			p.RPS, p.NoopRPS, p.CPUPer1000, p.P50, p.P99 = r.RPS, r.NoopRPS, r.CPUPer1000, r.P50, r.P99
		} else {
			p.BaseRPS, p.BaseNoopRPS, p.BaseCPUPer1000, p.BaseP50, p.BaseP99 = r.RPS, r.NoopRPS, r.CPUPer1000, r.P50, r.P99
		}
	}
	out := Pairing{Scenario: scenario, Baseline: baseline}
	var rps, cpu, p50 []float64
	for _, n := range order {
		p := byRound[n]
		if p.RPS == 0 || p.BaseRPS == 0 || p.NoopRPS == 0 || p.BaseNoopRPS == 0 {
			continue
		}
		out.Rounds = append(out.Rounds, *p)
		rps = append(rps, (p.RPS/p.NoopRPS)/(p.BaseRPS/p.BaseNoopRPS))
		if p.BaseCPUPer1000 > 0 {
			cpu = append(cpu, p.CPUPer1000/p.BaseCPUPer1000)
		}
		if p.BaseP50 > 0 {
			p50 = append(p50, p.P50/p.BaseP50)
		}
	}
	if len(out.Rounds) == 0 {
		return nil
	}
	out.RPSRatio, out.CPURatio, out.P50Ratio = medianOf(rps), medianOf(cpu), medianOf(p50)
	return &out
}

// Per-round ratios of a Pairing, for the report.
func (p *Pairing) rpsRatios() []float64 {
	var out []float64
	for _, r := range p.Rounds {
		out = append(out, (r.RPS/r.NoopRPS)/(r.BaseRPS/r.BaseNoopRPS))
	}
	return out
}

// DeriveOCSP sets the pairings of c.OCSP from the runs.
func (c *Check) DeriveOCSP() {
	if c.OCSP == nil {
		return
	}
	c.OCSP.Hot = pair(c.Runs, "hot-ocsp", "crl-1m")
	c.OCSP.Cold = pair(c.Runs, "cold-ocsp", "cold-no-ocsp")
}

// ocspRequests sums the window requests of a scenario's runs and returns
// the largest of one run.
func (o *OCSPCheck) ocspRequests(scenario string) (total, most int64, runs int) {
	for _, r := range o.Runs {
		if r.Scenario == scenario {
			total += r.WindowRequests
			most = max(most, r.WindowRequests)
			runs++
		}
	}
	return total, most, runs
}

// OCSPRefresh is the cost of refreshing cached OCSP answers: an
// ocspcache.Cache (the server's defaults: Concurrency 8) filled with
// Answers answers by a responder on loopback, then one refresh round of
// all of them, made by Run once the cache's clock (Options.Now) has
// passed their refresh time. The baseline is the same exchanges made
// bare, without the cache: what any OCSP client spends on them.
type OCSPRefresh struct {
	Answers     int    `json:"answers"`
	Concurrency int    `json:"concurrency"`
	Setup       string `json:"setup"`
	// One entry per repetition.
	Bare    []OCSPPhase `json:"bare"`
	Fill    []OCSPPhase `json:"fill"`
	Refresh []OCSPPhase `json:"refresh"`
	// CPURatio and WallRatio are medians over repetitions of the refresh
	// round's CPU and wall time over the bare exchanges'.
	CPURatio  float64 `json:"cpu_ratio"`
	WallRatio float64 `json:"wall_ratio"`
	// CachedNS is one Cached lookup of a cached answer (the hot path),
	// timed over every answer once before the round.
	CachedNS float64 `json:"cached_lookup_ns"`
}

// OCSPPhase is one pass over every answer.
type OCSPPhase struct {
	WallSeconds float64 `json:"wall_s"`
	// CPUSeconds is the CPU time of the measuring process (the mtlsgate
	// side); ResponderCPUSeconds the responder process's.
	CPUSeconds          float64 `json:"cpu_s"`
	ResponderCPUSeconds float64 `json:"responder_cpu_s"`
	// Requests is how many requests the responder received.
	Requests int64 `json:"requests"`
	// CPUPerAnswerUS is CPUSeconds per answer, in µs.
	CPUPerAnswerUS float64 `json:"cpu_us_per_answer"`
}

// Median is the median of each field over phases.
func Median(phases []OCSPPhase) OCSPPhase {
	pick := func(f func(OCSPPhase) float64) float64 {
		var xs []float64
		for _, p := range phases {
			xs = append(xs, f(p))
		}
		return medianOf(xs)
	}
	return OCSPPhase{
		WallSeconds:         pick(func(p OCSPPhase) float64 { return p.WallSeconds }),
		CPUSeconds:          pick(func(p OCSPPhase) float64 { return p.CPUSeconds }),
		ResponderCPUSeconds: pick(func(p OCSPPhase) float64 { return p.ResponderCPUSeconds }),
		Requests:            int64(pick(func(p OCSPPhase) float64 { return float64(p.Requests) })),
		CPUPerAnswerUS:      pick(func(p OCSPPhase) float64 { return p.CPUPerAnswerUS }),
	}
}

// Derive sets the ratios from the repetitions.
func (o *OCSPRefresh) Derive() {
	var cpu, wall []float64
	for i := range min(len(o.Bare), len(o.Refresh)) {
		if b := o.Bare[i]; b.CPUSeconds > 0 && b.WallSeconds > 0 {
			cpu = append(cpu, o.Refresh[i].CPUSeconds/b.CPUSeconds)
			wall = append(wall, o.Refresh[i].WallSeconds/b.WallSeconds)
		}
	}
	o.CPURatio, o.WallRatio = medianOf(cpu), medianOf(wall)
}
