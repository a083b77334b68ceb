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
	// Store is the store and replicas of the run ("" for one server on
	// bbolt).
	Store string `json:"store,omitempty"`
	// RestoreSeconds is how long `mtlsgate restore` took to move the
	// seeded store into etcd.
	RestoreSeconds float64 `json:"restore_seconds,omitempty"`
	// Replica is the same measurement repeated across two replicas on
	// etcd, the seeded store moved there (nil when not run).
	Replica *ADSRun `json:"replica,omitempty"`
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
	// OCSPRefresh is the cost of refreshing cached OCSP answers (nil when
	// not measured).
	OCSPRefresh *OCSPRefresh `json:"ocsp_refresh,omitempty"`
	Profiles    []Profile    `json:"profiles,omitempty"`
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
