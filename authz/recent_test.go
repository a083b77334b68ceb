package authz

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// recentBase is a whole minute, the tests' time zero.
var recentBase = time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)

// at is recentBase plus minutes and seconds.
func at(minutes, seconds int) time.Time {
	return recentBase.Add(time.Duration(minutes)*time.Minute + time.Duration(seconds)*time.Second)
}

// counting is a recentCounts counting sites (and "").
func counting(sites ...string) *recentCounts {
	m := map[string]*sitePolicy{}
	for _, s := range sites {
		m[s] = &sitePolicy{key: s}
	}
	rc := new(recentCounts)
	rc.follow(m)
	return rc
}

// TestRecentWindow: a decision counts from its minute until 15 full
// minutes have passed after it, and no longer; a slot reused for a later
// minute restarts its count; a decision older than the minute its slot
// holds (the clock stepped back) is dropped.
func TestRecentWindow(t *testing.T) {
	everyMinute := make([]time.Time, 21)
	for i := range everyMinute {
		everyMinute[i] = at(i, 30)
	}
	cases := []struct {
		name   string
		record []time.Time
		read   time.Time
		want   int64
	}{
		{"none", nil, at(0, 0), 0},
		{"same minute", []time.Time{at(0, 0), at(0, 1), at(0, 59)}, at(0, 59), 3},
		{"read in the next minute", []time.Time{at(0, 0), at(0, 59)}, at(1, 0), 2},
		{"15 full minutes later: still counted", []time.Time{at(0, 0), at(0, 59)}, at(15, 59), 2},
		{"16 minutes later: expired", []time.Time{at(0, 0), at(0, 59)}, at(16, 0), 0},
		{"one decision a minute for 21 minutes", everyMinute, at(20, 40), 16},
		{"slot reused after 16 minutes restarts", []time.Time{at(0, 0), at(0, 1), at(0, 2), at(16, 0)}, at(16, 1), 1},
		{"clock stepped back a slot: dropped", []time.Time{at(16, 0), at(0, 0)}, at(16, 0), 1},
		{"read before the decisions: not counted", []time.Time{at(5, 0)}, at(4, 59), 0},
		{"clock stepped back in the window: counted", []time.Time{at(10, 0), at(9, 0)}, at(10, 0), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := counting("a.example.com")
			k := decisionKey{"a.example.com", true, ""}
			for _, when := range c.record {
				rc.record(k, when)
			}
			var got int64
			if d := rc.counts("a.example.com", c.read); d != nil {
				if len(d) != 1 || d[0].Result != "allow" || d[0].Reason != "ok" {
					t.Fatalf("counts = %+v, want one allow/ok count", d)
				}
				got = d[0].Count
			}
			if got != c.want {
				t.Fatalf("count = %d, want %d", got, c.want)
			}
		})
	}
}

// TestRecentOrder: counts come most first, ties by result then reason,
// with the metrics' labels; other sites' decisions are left out; nil when
// there are none.
func TestRecentOrder(t *testing.T) {
	rc := counting("a.example.com", "b.example.com", "c.example.com")
	now := at(3, 0)
	record := func(site string, allow bool, r contract.Reason, n int) {
		for range n {
			rc.record(decisionKey{site, allow, r}, now)
		}
	}
	record("a.example.com", false, contract.ReasonUntrusted, 2)
	record("a.example.com", true, "", 5)
	record("a.example.com", false, contract.ReasonExpired, 2)
	record("a.example.com", true, contract.ReasonUntrusted, 2) // permissive: allowed, not verified
	record("a.example.com", false, contract.ReasonNoCertificate, 7)
	record("b.example.com", true, "", 9)
	record("", false, contract.ReasonUnknownSite, 4)

	want := []DecisionCount{
		{"deny", "no_certificate", 7}, {"allow", "ok", 5},
		{"allow", "untrusted", 2}, {"deny", "expired", 2}, {"deny", "untrusted", 2},
	}
	if got := rc.counts("a.example.com", now); !slices.Equal(got, want) {
		t.Errorf("a.example.com: %+v, want %+v", got, want)
	}
	if got, want := rc.counts("", now), []DecisionCount{{"deny", "unknown_site", 4}}; !slices.Equal(got, want) {
		t.Errorf("unknown sites: %+v, want %+v", got, want)
	}
	if got := rc.counts("c.example.com", now); got != nil {
		t.Errorf("c.example.com: %+v, want nil", got)
	}
	if got := rc.counts("a.example.com", now.Add(RecentWindow+time.Minute)); got != nil {
		t.Errorf("a.example.com 16 minutes later: %+v, want nil", got)
	}
}

// TestRecentFollow: a policy load keeps the counts of the sites it
// keeps, and of requests naming no known site, and drops the others'; a
// decision for a site not counted (deleted since) is not counted.
func TestRecentFollow(t *testing.T) {
	rc := counting("a.example.com", "b.example.com", "c.example.com")
	now := at(0, 0)
	for _, site := range []string{"a.example.com", "b.example.com", "c.example.com", "", "d.example.com"} {
		rc.record(decisionKey{site, true, ""}, now)
		rc.record(decisionKey{site, false, contract.ReasonUntrusted}, now)
	}
	rc.follow(map[string]*sitePolicy{"b.example.com": {}, "d.example.com": {}})
	rc.record(decisionKey{"a.example.com", true, ""}, now)
	for site, want := range map[string]int{"a.example.com": 0, "b.example.com": 2, "c.example.com": 0, "": 2, "d.example.com": 0} {
		if got := rc.counts(site, now); len(got) != want {
			t.Errorf("%s: %+v, want %d counts", site, got, want)
		}
	}
}

// TestRecentConcurrent: decisions recorded at once from many goroutines
// within one minute, while another reads, are all counted, including
// those that raced to add a label set's ring.
func TestRecentConcurrent(t *testing.T) {
	const goroutines, each = 8, 20000
	rc := counting("a.example.com")
	allow, deny := decisionKey{"a.example.com", true, ""}, decisionKey{"a.example.com", false, contract.ReasonUntrusted}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // a reader, for the race detector
		for {
			select {
			case <-stop:
				return
			default:
				rc.counts("a.example.com", at(7, 59))
			}
		}
	})
	var writers sync.WaitGroup
	start := make(chan struct{}) // all at once: they race to add the rings
	for range goroutines {
		writers.Go(func() {
			<-start
			for i := range each {
				// Every second of one minute: no minute boundary.
				rc.record(allow, at(7, i%60))
				if i%2 == 0 {
					rc.record(deny, at(7, i%60))
				}
			}
		})
	}
	close(start)
	writers.Wait()
	close(stop)
	wg.Wait()
	want := []DecisionCount{{"allow", "ok", goroutines * each}, {"deny", "untrusted", goroutines * each / 2}}
	if got := rc.counts("a.example.com", at(8, 0)); !slices.Equal(got, want) {
		t.Fatalf("counts = %+v, want %+v", got, want)
	}
}

// TestRecentRecordAllocs: recording a label set already seen allocates
// nothing.
func TestRecentRecordAllocs(t *testing.T) {
	site := strings.Clone("a.example.com") // not a constant: as on the Check path
	rc := counting(site)
	now := at(0, 0)
	rc.record(decisionKey{site, false, contract.ReasonUntrusted}, now)
	if n := testing.AllocsPerRun(1000, func() {
		rc.record(decisionKey{site, false, contract.ReasonUntrusted}, now)
	}); n != 0 {
		t.Fatalf("record: %v allocations, want 0", n)
	}
}

// recentClock is a settable clock for a Service.
type recentClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *recentClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *recentClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recentEnv is a store with a CA, an enforce and a permissive site that
// trust it, and a Service with a settable clock and metrics loaded from
// the store.
type recentEnv struct {
	st           *store.Store
	svc          *Service
	clock        *recentClock
	reg          *prometheus.Registry
	good, rogue  *testpki.Cert
	enforce, per string
}

func newRecentEnv(t *testing.T) *recentEnv {
	root := testpki.NewRoot(t, "Recent Root", testpki.Options{})
	e := &recentEnv{st: nodetest.Store(t), clock: &recentClock{now: time.Now()}, reg: prometheus.NewRegistry(),
		good: root.Leaf(t, "good", testpki.Options{}), rogue: testpki.NewRoot(t, "Rogue", testpki.Options{}).Leaf(t, "rogue", testpki.Options{}),
		enforce: "enforce.example.com", per: "permissive.example.com"}
	ctx := context.Background()
	ca, err := e.st.CreateCA(ctx, nodetest.Admin, "root", testpki.Bundle(root), nil)
	if err != nil {
		t.Fatal(err)
	}
	for host, mode := range map[string]pb.Mode{e.enforce: pb.Mode_MODE_ENFORCE, e.per: pb.Mode_MODE_PERMISSIVE} {
		nodetest.Site(t, e.st, host, mode)
		if _, err := e.st.AssignSiteCAs(ctx, nodetest.Admin, host, []string{ca.GetId()}, true); err != nil {
			t.Fatal(err)
		}
	}
	e.svc = New(Options{Now: e.clock.Now, Metrics: NewMetrics(e.reg), DecisionLog: LogOff})
	e.svc.Load(model.Compile(e.st.Current(), nil))
	return e
}

// check asks the Service about a request for host presenting c (nil:
// none), and whether it was allowed.
func (e *recentEnv) check(t *testing.T, host string, c *testpki.Cert) bool {
	t.Helper()
	var cert string
	if c != nil {
		cert = extract.EncodeNew(c.PEM())
	}
	resp, err := e.svc.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:     &authv3.AttributeContext_Peer{Certificate: cert},
		TlsSession: &authv3.AttributeContext_TLSSession{Sni: host},
		Request:    &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Host: host, Path: "/"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetOkResponse() != nil
}

// metricCounts are the decision metrics of site, as RecentDecisions
// reports them (most first).
func (e *recentEnv) metricCounts(t *testing.T, site string) []DecisionCount {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []DecisionCount
	for _, f := range families {
		if f.GetName() != "mtlsgate_authz_decisions_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["site"] == site {
				out = append(out, DecisionCount{l["result"], l["reason"], int64(m.GetCounter().GetValue())})
			}
		}
	}
	slices.SortFunc(out, func(a, b DecisionCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Result, b.Result), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// TestRecentDecisions: the Service counts each Check under its site (""
// for none known), result and reason, as its metrics do, for 15 minutes.
func TestRecentDecisions(t *testing.T) {
	e := newRecentEnv(t)
	send := func(host string, c *testpki.Cert, n int, allowed bool) {
		for range n {
			if e.check(t, host, c) != allowed {
				t.Fatalf("%s: allowed = %v, want %v", host, !allowed, allowed)
			}
		}
	}
	send(e.enforce, e.good, 4, true)
	send(e.enforce, e.rogue, 2, false)
	send(e.enforce, nil, 3, false)
	send(e.per, e.rogue, 1, true)
	send(e.per, nil, 1, true)
	send("nowhere.example.com", e.good, 2, false)

	want := map[string][]DecisionCount{
		e.enforce: {{"allow", "ok", 4}, {"deny", "no_certificate", 3}, {"deny", "untrusted", 2}},
		e.per:     {{"allow", "no_certificate", 1}, {"allow", "untrusted", 1}},
		"":        {{"deny", "unknown_site", 2}},
	}
	for site, w := range want {
		if got := e.svc.RecentDecisions(site); !slices.Equal(got, w) {
			t.Errorf("RecentDecisions(%q) = %+v, want %+v", site, got, w)
		}
		if got := e.metricCounts(t, site); !slices.Equal(got, w) {
			t.Errorf("metrics of %q = %+v, want %+v", site, got, w)
		}
	}
	e.clock.advance(RecentWindow)
	send(e.enforce, e.good, 1, true)
	if got, w := e.svc.RecentDecisions(e.enforce), []DecisionCount{{"allow", "ok", 5}, {"deny", "no_certificate", 3}, {"deny", "untrusted", 2}}; !slices.Equal(got, w) {
		t.Errorf("15 minutes later: %+v, want %+v", got, w)
	}
	e.clock.advance(time.Minute)
	if got, w := e.svc.RecentDecisions(e.enforce), []DecisionCount{{"allow", "ok", 1}}; !slices.Equal(got, w) {
		t.Errorf("16 minutes later: %+v, want %+v", got, w)
	}
	if got := e.svc.RecentDecisions(e.per); got != nil {
		t.Errorf("16 minutes later, %s: %+v, want nil", e.per, got)
	}
}

// TestRecentDecisionsDeletedSite: a site deleted from the store loses its
// counts when the next policy is loaded, and counts from zero when it
// comes back; a Check for it deciding on the previous policy after that
// load is not counted.
func TestRecentDecisionsDeletedSite(t *testing.T) {
	e := newRecentEnv(t)
	load := func() { e.svc.Load(model.Compile(e.st.Current(), nil)) }
	e.check(t, e.enforce, e.good)
	e.check(t, e.per, e.good)
	e.check(t, "nowhere.example.com", e.good)
	if err := e.st.DeleteSite(context.Background(), nodetest.Admin, e.per); err != nil {
		t.Fatal(err)
	}
	load()
	// A Check deciding on the previous policy.
	e.svc.recent.record(decisionKey{e.per, true, ""}, e.clock.Now())
	if got := e.svc.RecentDecisions(e.per); got != nil {
		t.Fatalf("deleted site: %+v, want nil", got)
	}
	for _, site := range []string{e.enforce, ""} {
		if got := e.svc.RecentDecisions(site); len(got) != 1 || got[0].Count != 1 {
			t.Fatalf("%q, kept: %+v, want its one count", site, got)
		}
	}
	nodetest.Site(t, e.st, e.per, pb.Mode_MODE_DISABLED)
	load()
	e.check(t, e.per, nil)
	if got, w := e.svc.RecentDecisions(e.per), []DecisionCount{{"allow", "ok", 1}}; !slices.Equal(got, w) {
		t.Fatalf("site back: %+v, want %+v", got, w)
	}
}
