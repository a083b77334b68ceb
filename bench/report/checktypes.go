package report

import ()

// LoadRun is one load-generator run against one server. Latencies are
// in microseconds, measured by the client.
type LoadRun struct {
	Scenario    string  `json:"scenario"`
	Target      string  `json:"target"` // "noop" or "mtlsgate"
	Mode        string  `json:"mode"`   // "closed" or "open"
	Round       int     `json:"round,omitempty"`
	Callers     int     `json:"callers"`
	Conns       int     `json:"conns"`
	OfferedRate float64 `json:"offered_rate,omitempty"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	Unexpected  int64   `json:"unexpected"` // answers other than the scenario's expected one
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"rps"`
	P50         float64 `json:"p50_us"`
	P90         float64 `json:"p90_us"`
	P99         float64 `json:"p99_us"`
	P999        float64 `json:"p999_us"`
	Max         float64 `json:"max_us"`
	Mean        float64 `json:"mean_us"`
	SendLagP50  float64 `json:"send_lag_p50_us,omitempty"` // open loop: how late the generator itself sent
	SendLagP99  float64 `json:"send_lag_p99_us,omitempty"`
	// SendP50 … are open-loop latencies from the actual send rather than
	// the schedule: without the generator's lateness.
	SendP50          float64 `json:"send_p50_us,omitempty"`
	SendP99          float64 `json:"send_p99_us,omitempty"`
	SendP999         float64 `json:"send_p999_us,omitempty"`
	ServerCPUSeconds float64 `json:"server_cpu_seconds"`
	CPUPer1000       float64 `json:"server_cpu_s_per_1000"`
	ServerCPUUtil    float64 `json:"server_cpu_util"` // cores busy on average
	ClientCPUUtil    float64 `json:"client_cpu_util"`
	OtherCPUUtil     float64 `json:"other_cpu_util"` // cores used by every other process of the machine
	IRQCPUUtil       float64 `json:"irq_cpu_util"`   // cores in interrupts and softirqs (loopback TCP)
	StealPct         float64 `json:"steal_pct"`      // CPU time the hypervisor took, % of all
	FirstError       string  `json:"first_error,omitempty"`
	// NoopRPS is the throughput of the no-op run made right before this
	// one, its baseline (closed-loop mtlsgate runs).
	NoopRPS float64 `json:"noop_rps,omitempty"`
}

// Check is part 1: Check under load.
type Check struct {
	Part
	Setup     CheckSetup        `json:"setup"`
	Runs      []LoadRun         `json:"runs"`
	Scenarios []ScenarioSummary `json:"scenarios"`
	Paced     []LoadRun         `json:"paced"`
	Verify    []VerifyCost      `json:"verify"`
	Profiles  []Profile         `json:"profiles,omitempty"`
	// Setup costs on the real server: start, CAs, sites and the CRL
	// through the API.
	SetupSeconds     float64 `json:"setup_seconds"`
	CRLUploadSeconds float64 `json:"crl_upload_seconds"`
	ServerPeakRSSMB  float64 `json:"server_peak_rss_mb"`
	// Flood is the admin-flood scenario's detail (nil when not run).
	Flood *Flood `json:"flood,omitempty"`
	// Backends is the hot-etcd scenario's detail (nil when not run).
	Backends *Backends `json:"backends,omitempty"`
	// OCSP is the OCSP scenarios' detail (nil when none ran).
	OCSP *OCSPCheck `json:"ocsp,omitempty"`
}

// Backends compares hot Check on a second server whose store is etcd
// with hot Check on the bbolt server, round by round. The hot path never
// touches the store, so the two should not differ.
type Backends struct {
	// Etcd describes the cluster of the etcd server.
	Etcd   string         `json:"etcd"`
	Rounds []BackendRound `json:"rounds"`
	// RPSRatio is the median over rounds of the etcd run's throughput
	// over the bbolt run's, each first divided by the no-op run made
	// right before it (which takes the machine's drift out).
	RPSRatio float64 `json:"rps_ratio"`
	// CPURatio is the median over rounds of server CPU per Check, etcd
	// server over bbolt server.
	CPURatio float64 `json:"cpu_ratio"`
}

// BackendRound is one round of the hot and hot-etcd runs.
type BackendRound struct {
	Round           int     `json:"round"`
	BboltRPS        float64 `json:"bbolt_rps"`
	BboltNoopRPS    float64 `json:"bbolt_noop_rps"`
	EtcdRPS         float64 `json:"etcd_rps"`
	EtcdNoopRPS     float64 `json:"etcd_noop_rps"`
	BboltCPUPer1000 float64 `json:"bbolt_cpu_s_per_1000"`
	EtcdCPUPer1000  float64 `json:"etcd_cpu_s_per_1000"`
	BboltP99        float64 `json:"bbolt_p99_us"`
	EtcdP99         float64 `json:"etcd_p99_us"`
	// MemberCPUSeconds is the CPU time the etcd member used during the
	// etcd run: the store's share of the hot path.
	MemberCPUSeconds float64 `json:"etcd_member_cpu_seconds"`
}

// DeriveBackends sets c.Backends from the hot and hot-etcd runs of each
// round; memberCPU holds the etcd member's CPU seconds by round. It
// leaves c.Backends nil when no round ran both.
func (c *Check) DeriveBackends(etcd string, memberCPU map[int]float64) {
	byRound := map[int]*BackendRound{}
	for _, r := range c.Runs {
		if r.Scenario != "hot" && r.Scenario != "hot-etcd" {
			continue
		}
		b := byRound[r.Round]
		if b == nil {
			b = &BackendRound{Round: r.Round, MemberCPUSeconds: memberCPU[r.Round]}
			byRound[r.Round] = b
		}
		if r.Scenario == "hot" {
			b.BboltRPS, b.BboltNoopRPS, b.BboltCPUPer1000, b.BboltP99 = r.RPS, r.NoopRPS, r.CPUPer1000, r.P99
		} else {
			b.EtcdRPS, b.EtcdNoopRPS, b.EtcdCPUPer1000, b.EtcdP99 = r.RPS, r.NoopRPS, r.CPUPer1000, r.P99
		}
	}
	var out Backends
	var rps, cpu []float64
	for _, r := range c.Runs {
		b := byRound[r.Round]
		if r.Scenario != "hot" || b == nil || b.EtcdRPS == 0 || b.BboltRPS == 0 || b.EtcdNoopRPS == 0 || b.BboltNoopRPS == 0 {
			continue
		}
		out.Rounds = append(out.Rounds, *b)
		rps = append(rps, (b.EtcdRPS/b.EtcdNoopRPS)/(b.BboltRPS/b.BboltNoopRPS))
		if b.BboltCPUPer1000 > 0 {
			cpu = append(cpu, b.EtcdCPUPer1000/b.BboltCPUPer1000)
		}
	}
	if len(out.Rounds) == 0 {
		return
	}
	out.Etcd, out.RPSRatio, out.CPURatio = etcd, medianOf(rps), medianOf(cpu)
	c.Backends = &out
}

// Flood is hot Check while unauthenticated uploads flood the admin port,
// against hot Check without the flood in the same round.
type Flood struct {
	Senders       int          `json:"senders"`
	BodyBytes     int64        `json:"body_bytes"`
	RatePerSender float64      `json:"rate_per_sender"`
	Rounds        []FloodRound `json:"rounds"`
	// P99Ratio and RPSRatio are the medians over rounds of the flooded
	// run's p99 (req/s) over that of the round's hot run.
	P99Ratio float64 `json:"p99_ratio"`
	RPSRatio float64 `json:"rps_ratio"`
}

// FloodRound is one round of the admin-flood scenario.
type FloodRound struct {
	Round       int     `json:"round"`
	HotP99      float64 `json:"hot_p99_us"`
	FloodP99    float64 `json:"flood_p99_us"`
	HotRPS      float64 `json:"hot_rps"`
	FloodRPS    float64 `json:"flood_rps"`
	RSSBeforeMB float64 `json:"server_rss_before_mb"`
	RSSPeakMB   float64 `json:"server_rss_peak_mb"` // sampled every 100 ms during the flooded run
	FloodCounts
}

// FloodCounts is what the flooder did in one run.
type FloodCounts struct {
	Requests  int64 `json:"requests"`
	Refused   int64 `json:"refused"` // 401 / UNAUTHENTICATED
	Other     int64 `json:"other"`   // any other answer
	Errors    int64 `json:"errors"`  // transport errors
	BytesSent int64 `json:"bytes_sent"`
}

// CheckSetup is how the Check load was generated.
type CheckSetup struct {
	Server           string  `json:"server"` // what served the mtlsgate side
	ServerCPUs       string  `json:"server_cpus"`
	ClientCPUs       string  `json:"client_cpus"`
	Pinned           bool    `json:"pinned"`
	ServerGOMAXPROCS int     `json:"server_gomaxprocs"`
	ClientGOMAXPROCS int     `json:"client_gomaxprocs"`
	Callers          int     `json:"callers"`
	Conns            int     `json:"conns"`
	WarmupSeconds    float64 `json:"warmup_seconds"`
	DurationSeconds  float64 `json:"duration_seconds"`
	Rounds           int     `json:"rounds"`
	PacedCallers     int     `json:"paced_callers"`
	HotCerts         int     `json:"hot_certs"`
	ColdCerts        int     `json:"cold_certs"`
	CacheSize        int     `json:"authz_cache_size"`
	CRLEntries       int     `json:"crl_entries"`
	Order            string  `json:"order"`
}

// ScenarioSummary is the median over a scenario's rounds.
type ScenarioSummary struct {
	Scenario      string    `json:"scenario"`
	Description   string    `json:"description"`
	Target        string    `json:"target"`
	Runs          int       `json:"runs"`
	RPS           float64   `json:"rps"`
	P50           float64   `json:"p50_us"`
	P90           float64   `json:"p90_us"`
	P99           float64   `json:"p99_us"`
	P999          float64   `json:"p999_us"`
	CPUPer1000    float64   `json:"server_cpu_s_per_1000"`
	ServerCPUUtil float64   `json:"server_cpu_util"`
	ClientCPUUtil float64   `json:"client_cpu_util"`
	RatioToNoop   float64   `json:"ratio_to_noop"` // median over rounds of the ratio within each round
	RoundRatios   []float64 `json:"round_ratios"`
	Errors        int64     `json:"errors"`
	Unexpected    int64     `json:"unexpected"`
}

// VerifyCost compares a cold Check with bare chain verification of the
// same certificates: standard verification (self-signed CAs as roots, the
// others as intermediates), and two variants for context.
type VerifyCost struct {
	Key          string    `json:"key"`
	Certs        int       `json:"certs"`
	VerifyUS     float64   `json:"verify_cpu_us"`           // x509.Certificate.Verify, roots and intermediates split, CPU µs per certificate
	ParseVerify  float64   `json:"parse_verify_cpu_us"`     // x509.ParseCertificate + Verify
	AnchorsUS    float64   `json:"anchors_verify_cpu_us"`   // Verify with every CA certificate a root, no intermediates (ext_authz's miss)
	AllPathsUS   float64   `json:"all_paths_verify_cpu_us"` // Verify with every CA certificate a root and an intermediate
	ColdCheckUS  float64   `json:"cold_check_cpu_us"`       // server CPU per cold Check (incl. gRPC)
	HotCheckUS   float64   `json:"hot_check_cpu_us"`        // server CPU per hot Check (incl. gRPC)
	Ratio        float64   `json:"ratio"`                   // cold check / verify
	MarginalOver float64   `json:"marginal_ratio"`          // (cold - hot) / verify
	VerifyRounds []float64 `json:"verify_cpu_us_rounds"`
	RoundRatios  []float64 `json:"round_ratios"`
}

// DeriveVerify sets the cold-check costs and ratios of c.Verify from the
// runs. Each round measured bare Verify right before its cold run, so the
// ratio is taken within each round, then the median over rounds.
func (c *Check) DeriveVerify() {
	var hot *ScenarioSummary
	for i := range c.Scenarios {
		if c.Scenarios[i].Scenario == "hot" {
			hot = &c.Scenarios[i]
		}
	}
	for i := range c.Verify {
		v := &c.Verify[i]
		v.RoundRatios = nil
		var cold []float64
		for _, r := range c.Runs {
			if r.Scenario != "cold-"+v.Key {
				continue
			}
			cold = append(cold, r.CPUPer1000*1e3) // CPU-s per 1000 → µs per check
			if k := len(cold) - 1; k < len(v.VerifyRounds) && v.VerifyRounds[k] > 0 {
				v.RoundRatios = append(v.RoundRatios, cold[k]/v.VerifyRounds[k])
			}
		}
		if len(cold) == 0 || v.VerifyUS == 0 {
			continue
		}
		v.ColdCheckUS = medianOf(cold)
		v.Ratio = medianOf(v.RoundRatios)
		if hot != nil {
			v.HotCheckUS = hot.CPUPer1000 * 1e3
			v.MarginalOver = (v.ColdCheckUS - v.HotCheckUS) / v.VerifyUS
		}
	}
}
