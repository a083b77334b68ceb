// Package report holds the benchmark results (written as JSON by each
// part of the harness), describes the machine, checks the targets and
// renders bench/results/latest.md and latest.json.
package report

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Results is everything one `make bench` measured.
type Results struct {
	Machine      Machine       `json:"machine"`
	Check        *Check        `json:"check,omitempty"`
	ControlPlane *ControlPlane `json:"control_plane,omitempty"`
	Revocation   *Revocation   `json:"revocation,omitempty"`
	Micro        *Micro        `json:"micro,omitempty"`
	Parsers      *Parsers      `json:"parsers,omitempty"`
	Targets      []Target      `json:"targets"`
}

// Machine describes where and what was measured.
type Machine struct {
	NProc      int    `json:"nproc"`
	CPUModel   string `json:"cpu_model"`
	MemTotalMB int    `json:"mem_total_mb"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	GOOSArch   string `json:"goos_goarch"`
	Commit     string `json:"commit"`
	Dirty      bool   `json:"dirty"` // uncommitted changes in the work tree
	Date       string `json:"date"`  // when the run's first part started
	Taskset    bool   `json:"taskset"`
}

// Part is when one part of the harness ran, and how busy the machine
// was (it may be shared with other work).
type Part struct {
	Commit       string    `json:"commit"` // git HEAD when the part started
	Started      time.Time `json:"started"`
	Seconds      float64   `json:"seconds"`
	LoadAvgStart string    `json:"loadavg_start"`
	LoadAvgEnd   string    `json:"loadavg_end"`
}

// Begin stamps the start of a part.
func (p *Part) Begin() {
	p.Started = time.Now().UTC().Truncate(time.Second)
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		p.Commit = strings.TrimSpace(string(out))
	}
	p.LoadAvgStart = LoadAvg()
}

// End stamps the end of a part.
func (p *Part) End() {
	p.Seconds = time.Since(p.Started).Round(time.Second).Seconds()
	p.LoadAvgEnd = LoadAvg()
}

// LoadAvg is the 1, 5 and 15 minute load averages.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

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

// Profile is a CPU profile taken during a run, with its top entries.
type Profile struct {
	Name string `json:"name"`
	File string `json:"file"`
	Top  string `json:"top_cum"`  // go tool pprof -top -cum
	Flat string `json:"top_flat"` // go tool pprof -top
}

// ControlPlane is part 2.
type ControlPlane struct {
	Part
	CAsPerSite int            `json:"cas_per_site"`
	CAPool     int            `json:"ca_pool"`
	GOMAXPROCS int            `json:"gomaxprocs"`
	Translate  []TranslateRun `json:"translate"`
	ADS        *ADSRun        `json:"ads,omitempty"`
	Profiles   []Profile      `json:"profiles,omitempty"`
}

// TranslateRun is translation at one size: full translations from nothing
// (cold: a new xds.Translator each, as after a restart), then one-site
// changes translated incrementally by the Translator of the last one.
type TranslateRun struct {
	Sites       int       `json:"sites"`
	Reps        int       `json:"reps"`
	TranslateMS []float64 `json:"translate_ms"`
	SnapshotMS  []float64 `json:"snapshot_ms"`
	TotalMS     float64   `json:"total_ms_median"` // Translate + Snapshot, cold
	StateMB     float64   `json:"state_mb"`        // heap held by the State itself
	SnapshotMB  float64   `json:"snapshot_mb"`     // heap held by the Resources, the snapshot and the Translator's cache, after GC
	HeapInuseMB float64   `json:"heap_inuse_mb"`   // whole heap in use after GC, State and snapshot alive
	PeakHeapMB  float64   `json:"peak_heap_mb"`    // highest heap in use seen while translating
	Resources   int       `json:"resources"`
	// IncrementalMS are Translate + Snapshot of a State where one site's
	// origin changed, by the Translator that translated the previous State
	// (what the server does on an API change).
	IncrementalMS       []float64 `json:"incremental_ms,omitempty"`
	IncrementalMedianMS float64   `json:"incremental_ms_median"`
}

// ADSRun is API change → ADS client latency on the real binary.
type ADSRun struct {
	Sites           int        `json:"sites"`
	CAs             int        `json:"cas"`
	SeedSeconds     float64    `json:"seed_seconds"`
	SeedCached      bool       `json:"seed_cached"` // the seeded store came from an earlier run's cache
	SeedDate        string     `json:"seed_date"`
	SeedConcurrency int        `json:"seed_concurrency"`
	SettleSeconds   float64    `json:"settle_seconds"` // after seeding, until ADS served every site
	Change          string     `json:"change"`
	SotW            LatencySet `json:"sotw"`
	Delta           LatencySet `json:"delta"`
	ServerPeakRSSMB float64    `json:"server_peak_rss_mb"`
}

// LatencySet is the latency of a series of changes, in milliseconds.
type LatencySet struct {
	Changes       int       `json:"changes"`
	Received      int       `json:"received"`
	InitialMS     float64   `json:"initial_ms"` // first full response on a new stream
	InitialCount  int       `json:"initial_resources"`
	P50MS         float64   `json:"p50_ms"`
	P90MS         float64   `json:"p90_ms"`
	P99MS         float64   `json:"p99_ms"`
	MaxMS         float64   `json:"max_ms"`
	MinPerPush    int       `json:"min_resources_per_push"`
	MaxPerPush    int       `json:"max_resources_per_push"`
	MaxPushBytes  int       `json:"max_push_bytes"`
	OnlyChanged   bool      `json:"only_changed"` // every push held only the changed resource
	SamplesMS     []float64 `json:"samples_ms"`
	FirstProblem  string    `json:"first_problem,omitempty"`
	ExtraMessages int       `json:"extra_messages"` // pushes that carried no change of ours
}

// Revocation is part 3.
type Revocation struct {
	Part
	Entries         int                `json:"entries"`
	DERMB           float64            `json:"der_mb"`
	LoadSeconds     []float64          `json:"load_seconds"` // crlset.ParseVerified
	LoadMedianS     float64            `json:"load_median_s"`
	ParseOnlyS      float64            `json:"parse_only_median_s"` // crlset.Parse, no signature
	PeakHeapMB      float64            `json:"peak_heap_mb"`        // highest heap in use during a load
	AllocMB         float64            `json:"alloc_mb"`            // bytes allocated by one load
	RetainedMB      float64            `json:"retained_mb"`         // heap kept after GC
	RetainedBytes   float64            `json:"set_retained_mb"`     // Set.RetainedBytes()
	CompileSeconds  float64            `json:"authz_compile_s"`     // authz.Compile of a State holding the CRL
	X509ParseS      float64            `json:"x509_parse_s,omitempty"`
	X509RetainedMB  float64            `json:"x509_retained_mb,omitempty"`
	StoreValidateS  float64            `json:"store_validate_s,omitempty"` // what an API upload parses first
	LookupNS        map[string]float64 `json:"lookup_ns"`
	AuthzLookupNote string             `json:"authz_lookup_note,omitempty"`
}

// Micro is part 4: go test -bench.
type Micro struct {
	File      string     `json:"file"`
	Benchstat string     `json:"benchstat,omitempty"`
	Rows      []MicroRow `json:"rows"`
}

// MicroRow is one benchmark's medians over its -count runs.
type MicroRow struct {
	Name    string             `json:"name"`
	Count   int                `json:"count"`
	Metrics map[string]float64 `json:"metrics"` // unit → median
}

// Target is one goal of the issue, met or missed.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
	Missing  bool   `json:"missing,omitempty"` // not measured in this run
}

// WriteJSON writes v to path, indented.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads path into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Summarize fills the ratios from the rounds that have a hot baseline.
func (f *Flood) Summarize() {
	if f == nil {
		return
	}
	var p99, rps []float64
	for _, r := range f.Rounds {
		if r.HotP99 > 0 && r.HotRPS > 0 {
			p99, rps = append(p99, r.FloodP99/r.HotP99), append(rps, r.FloodRPS/r.HotRPS)
		}
	}
	f.P99Ratio, f.RPSRatio = medianOf(p99), medianOf(rps)
}
