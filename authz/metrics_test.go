package authz_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/internal/promtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestDecisionMetrics: every Check is counted once under its own site,
// result and reason (the counters are cached per label set), and verdict
// cache hits and misses are counted apart.
func TestDecisionMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, authz.Options{Metrics: authz.NewMetrics(reg)})
	p := e.pki
	ecdsa := e.ca("ecdsa", p.root, p.inter)
	e.site("m.example.com", &pb.ClientCertSettings{Mode: enforce}, ecdsa)
	e.waitLoaded()
	at := func(c *testpki.Cert) req { return req{sni: "m.example.com", host: "m.example.com", cert: c} }
	for range 3 {
		e.check(at(p.good))
	}
	for range 2 {
		e.check(at(p.untrusted))
	}
	e.check(at(nil))

	want := map[[3]string]float64{
		{"m.example.com", "allow", "ok"}:            3,
		{"m.example.com", "deny", "untrusted"}:      2,
		{"m.example.com", "deny", "no_certificate"}: 1,
	}
	cache := map[string]float64{"hit": 3, "miss": 2} // good: 1 miss then 2 hits; untrusted: 1 and 1
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got, gotCache := map[[3]string]float64{}, map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			l := labels(m)
			switch f.GetName() {
			case "mtlsgate_authz_decisions_total":
				got[[3]string{l["site"], l["result"], l["reason"]}] = m.GetCounter().GetValue()
			case "mtlsgate_authz_verdict_cache_total":
				gotCache[l["result"]] = m.GetCounter().GetValue()
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("decisions = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("decisions%v = %v, want %v", k, got[k], v)
		}
	}
	for k, v := range cache {
		if gotCache[k] != v {
			t.Errorf("verdict cache %s = %v, want %v", k, gotCache[k], v)
		}
	}
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// TestMetricsForgetDeletedSites: a deleted site's decision series are
// removed at the next policy load, so that labels of sites long gone are
// not exported for the life of the process; one Metrics serves two
// Services, and neither changes it.
func TestMetricsForgetDeletedSites(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := authz.NewMetrics(reg)
	e := newEnv(t, authz.Options{Metrics: m})
	other := authz.New(authz.Options{Metrics: m})
	reg.MustRegister(e.svc.Collector())
	p := e.pki
	ca := e.ca("ecdsa", p.root, p.inter)
	for _, h := range []string{"gone.example.com", "kept.example.com"} {
		e.site(h, &pb.ClientCertSettings{Mode: enforce}, ca)
	}
	e.waitLoaded()
	other.Load(model.Compile(e.st.Current(), nil))
	for _, h := range []string{"gone.example.com", "kept.example.com"} {
		e.check(req{sni: h, host: h, cert: p.good})
	}
	if err := e.st.DeleteSite(context.Background(), admin, "gone.example.com"); err != nil {
		t.Fatal(err)
	}
	e.waitLoaded()
	sites := map[string]bool{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "mtlsgate_authz_decisions_total" {
			for _, s := range f.GetMetric() {
				sites[labels(s)["site"]] = true
			}
		}
	}
	if sites["gone.example.com"] || !sites["kept.example.com"] {
		t.Fatalf("decision series by site: %v, want kept.example.com only", sites)
	}
	// A site created again under the name counts from zero: the old
	// series went with the deletion.
	e.site("gone.example.com", &pb.ClientCertSettings{Mode: enforce}, ca)
	e.waitLoaded()
	e.check(req{sni: "gone.example.com", host: "gone.example.com", cert: p.good})
	if n := promtest.Sum(t, reg, "mtlsgate_authz_decisions_total"); n != 2 {
		t.Fatalf("%v decisions counted, want 2 (kept.example.com's, and one since gone.example.com came back)", n)
	}
}
