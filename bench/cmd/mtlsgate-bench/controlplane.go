package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/bench/report"
	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

type cpFlags struct {
	bin, etcdBin, out, work  string
	profiles                 string
	etcdMembers              int
	sizes                    string
	casPerSite, caPool, reps int
	incremental              int
	adsSites, changes        int
	seedConc                 int
	seedCache, seedOnly      bool
	changeGap, changeWait    time.Duration
}

func runControlPlane(args []string) error {
	f, err := parseCPFlags(args)
	if err != nil {
		return err
	}
	res := &report.ControlPlane{CAsPerSite: f.casPerSite, CAPool: f.caPool, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	res.Begin()
	sizes, err := parseSizes(f.sizes)
	if err != nil {
		return err
	}
	maxSites := slices.Max(append(sizes, f.adsSites))
	fx, err := makeFixtures(f.caPool, maxSites)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.profiles, 0o755); err != nil {
		return err
	}
	for _, n := range sizes {
		if f.seedOnly {
			break
		}
		if err := translateSize(f, fx, n, n == slices.Max(sizes), res); err != nil {
			return err
		}
	}
	if f.adsSites > 0 {
		ads, err := measureADS(f, fx)
		if err != nil {
			return fmt.Errorf("ADS: %w", err)
		}
		res.ADS = ads
	}
	res.End()
	if err := os.MkdirAll(filepath.Dir(f.out), 0o755); err != nil {
		return err
	}
	return report.WriteJSON(f.out, res)
}

// parseCPFlags reads the controlplane part's flags.
func parseCPFlags(args []string) (cpFlags, error) {
	var f cpFlags
	fs := flag.NewFlagSet("controlplane", flag.ContinueOnError)
	fs.StringVar(&f.bin, "bin", "bin/mtlsgate", "the mtlsgate binary")
	fs.StringVar(&f.etcdBin, "etcd", "bin/etcd", "the etcd binary of the replicas' cluster")
	fs.IntVar(&f.etcdMembers, "etcd-members", 3, "members of the etcd cluster the API → ADS measurement repeats on, across two replicas (0: skip)")
	fs.StringVar(&f.out, "out", "bench/results/parts/controlplane.json", "result file")
	fs.StringVar(&f.work, "work", "", "work directory (default: a new temporary one, removed afterwards)")
	fs.StringVar(&f.profiles, "profiles", "bench/results/profiles", "where CPU profiles go")
	fs.StringVar(&f.sizes, "sizes", "100,1000,10000", "site counts for full translation")
	fs.IntVar(&f.casPerSite, "cas-per-site", 5, "client CAs assigned to each site")
	fs.IntVar(&f.caPool, "ca-pool", 1000, "client CAs in the account (limits.max_cas default); sites take theirs from it")
	fs.IntVar(&f.reps, "reps", 3, "full (cold) translations per size")
	fs.IntVar(&f.incremental, "incremental", 20, "one-site changes translated incrementally per size")
	fs.IntVar(&f.adsSites, "ads-sites", 10000, "sites for the API → ADS latency (0: skip)")
	fs.IntVar(&f.changes, "changes", 100, "single-site changes per ADS mode")
	fs.IntVar(&f.seedConc, "seed-concurrency", 4, "concurrent API calls while seeding")
	fs.BoolVar(&f.seedCache, "seed-cache", false, "reuse a store seeded through the API by an earlier run with this flag (cached under the temporary directory), or cache the one this run seeds")
	fs.BoolVar(&f.seedOnly, "seed-only", false, "only seed (and cache) the store for the API → ADS measurement")
	fs.DurationVar(&f.changeGap, "change-gap", 50*time.Millisecond, "pause after each change is received")
	fs.DurationVar(&f.changeWait, "change-timeout", 30*time.Second, "give up on a change after this long")
	err := fs.Parse(args)
	return f, err
}

// translateSize measures the translations of n sites into res.
func translateSize(f cpFlags, fx *fixtures, n int, profile bool, res *report.ControlPlane) error {
	tr, prof, err := measureTranslate(fx, n, f.casPerSite, f.reps, f.incremental, profile, f.profiles)
	if err != nil {
		return err
	}
	res.Translate = append(res.Translate, tr)
	if prof != nil {
		res.Profiles = append(res.Profiles, *prof)
	}
	logf("translate %5d sites: cold %.0f ms (Translate %v ms, Snapshot %v ms), one-site change %.1f ms (median of %d), state %.1f MB, snapshot + cache %.1f MB, heap in use %.1f MB, peak %.1f MB",
		n, tr.TotalMS, roundAll(tr.TranslateMS), roundAll(tr.SnapshotMS), tr.IncrementalMedianMS, len(tr.IncrementalMS),
		tr.StateMB, tr.SnapshotMB, tr.HeapInuseMB, tr.PeakHeapMB)
	return nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad size %q", p)
		}
		out = append(out, n)
	}
	return out, nil
}

func roundAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(int(x*10+0.5)) / 10
	}
	return out
}

// heapSampler records the highest heap in use while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			h.peak = max(h.peak, s[0].Value.Uint64()+s[1].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// Peak stops the sampler and returns the peak in bytes.
func (h *heapSampler) Peak() uint64 {
	close(h.stop)
	<-h.done
	return h.peak
}

func heapAfterGC() (alloc, inuse uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.HeapInuse
}

const mb = 1 << 20

// measureTranslate times full translations of n sites from nothing (a new
// Translator each, as after a restart), then one-site changes translated
// incrementally by the last one, and measures what the result and the
// Translator's cache hold on the heap.
func measureTranslate(fx *fixtures, n, casPerSite, reps, changes int, profile bool, profDir string) (report.TranslateRun, *report.Profile, error) {
	tr := report.TranslateRun{Sites: n, Reps: reps}
	base, _ := heapAfterGC()
	st, err := fx.state(n, casPerSite)
	if err != nil {
		return tr, nil, err
	}
	withState, _ := heapAfterGC()
	tr.StateMB = (float64(withState) - float64(base)) / mb
	var prof *report.Profile
	stop := func() {}
	if profile {
		if prof, stop, err = startProfile(profDir, n); err != nil {
			return tr, nil, err
		}
	}
	var last coldTranslation
	sampler := startHeapSampler()
	for range reps {
		last = coldTranslation{}
		runtime.GC()
		if last, err = translateCold(st); err != nil {
			return tr, nil, err
		}
		tr.TranslateMS = append(tr.TranslateMS, last.translateMS)
		tr.SnapshotMS = append(tr.SnapshotMS, last.snapshotMS)
	}
	stop()
	res, snap, translator := last.res, last.snap, last.t
	if tr.IncrementalMS, err = measureIncremental(translator, last.m, changes); err != nil {
		return tr, nil, err
	}
	tr.IncrementalMedianMS = median(tr.IncrementalMS)
	tr.PeakHeapMB = float64(sampler.Peak()) / mb
	var totals []float64
	for i := range tr.TranslateMS {
		totals = append(totals, tr.TranslateMS[i]+tr.SnapshotMS[i])
	}
	tr.TotalMS = median(totals)
	alloc, inuse := heapAfterGC()
	tr.SnapshotMB = (float64(alloc) - float64(withState)) / mb
	tr.HeapInuseMB = float64(inuse) / mb
	tr.Resources = len(res.Listeners) + len(res.Routes) + len(res.Clusters) + len(res.Secrets)
	runtime.KeepAlive(st)
	runtime.KeepAlive(snap)
	runtime.KeepAlive(translator)
	return tr, prof, nil
}

// startProfile starts the CPU profile of the n-site translations; stop
// ends it and reads its top entries into prof.
func startProfile(profDir string, n int) (prof *report.Profile, stop func(), err error) {
	path := filepath.Join(profDir, fmt.Sprintf("translate-%d.pprof", n))
	pf, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return nil, nil, err
	}
	prof = &report.Profile{Name: fmt.Sprintf("cold translate + snapshot, %d sites", n), File: path}
	return prof, func() {
		pprof.StopCPUProfile()
		pf.Close()
		prof.Top, prof.Flat = pprofTop(prof.File)
	}, nil
}

// coldTranslation is one full translation from nothing and its timings.
type coldTranslation struct {
	res                     *xds.Resources
	snap                    any
	t                       *xds.Translator
	m                       *model.Model
	translateMS, snapshotMS float64
}

// translateCold compiles st's model and translates it with a new
// Translator, as after a restart, and makes the snapshot; every site must
// translate. The translation time includes the model's compilation.
func translateCold(st *store.State) (coldTranslation, error) {
	t0 := time.Now()
	t := xds.NewTranslator(xds.DefaultOptions())
	m := model.Compile(st, nil)
	r, err := t.Translate(m)
	if err != nil {
		return coldTranslation{}, err
	}
	t1 := time.Now()
	s, err := r.Snapshot()
	if err != nil {
		return coldTranslation{}, err
	}
	t2 := time.Now()
	if len(r.SiteErrors) > 0 {
		return coldTranslation{}, fmt.Errorf("%d sites left out, e.g. %v", len(r.SiteErrors), firstErr(r.SiteErrors))
	}
	return coldTranslation{res: r, snap: s, t: t, m: m,
		translateMS: float64(t1.Sub(t0).Microseconds()) / 1e3, snapshotMS: float64(t2.Sub(t1).Microseconds()) / 1e3}, nil
}

// measureIncremental times model.Compile + Translate + Snapshot by t
// (which translated m) of States where one site's origin changed, a
// different site each time, like the API → ADS changes. Each State is
// made before its timing.
func measureIncremental(t *xds.Translator, m *model.Model, changes int) ([]float64, error) {
	st := m.State
	sites := st.Sites()
	var out []float64
	for i := range changes {
		k := (i * 7919) % len(sites) // spread over the sites
		changed := proto.Clone(sites[k]).(*pb.Site)
		changed.OriginUrl = originURL(k, 9000+i)
		next := append(slices.Clone(sites[:k:k]), changed)
		next = append(next, sites[k+1:]...)
		st = store.NewState(st.Rev+1, st.CAs(), next, st.CRLs())
		sites = next
		runtime.GC()
		t0 := time.Now()
		m = model.Compile(st, m)
		r, err := t.Translate(m)
		if err != nil {
			return nil, err
		}
		if _, err := r.Snapshot(); err != nil {
			return nil, err
		}
		out = append(out, float64(time.Since(t0).Microseconds())/1e3)
		if len(r.SiteErrors) > 0 {
			return nil, fmt.Errorf("%d sites left out, e.g. %v", len(r.SiteErrors), firstErr(r.SiteErrors))
		}
	}
	return out, nil
}

func firstErr(m map[string]error) error {
	for h, e := range m {
		return fmt.Errorf("%s: %w", h, e)
	}
	return errors.New("none")
}
