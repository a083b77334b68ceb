package authz

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
)

// Metrics are the ext_authz server's Prometheus metrics. A nil *Metrics
// records nothing.
type Metrics struct {
	decisions   *prometheus.CounterVec
	latency     prometheus.Histogram
	cache       *prometheus.CounterVec
	generation  prometheus.Gauge
	revision    prometheus.Gauge
	buildErrors prometheus.Counter
	inError     prometheus.Gauge
	buildTime   prometheus.Histogram
	refused     *prometheus.CounterVec
	uncovered   *prometheus.CounterVec
	unchecked   *prometheus.CounterVec

	// hits and misses are the cache counters; counters caches the
	// decisions children by decisionKey (WithLabelValues hashes and locks
	// on every call).
	hits, misses prometheus.Counter
	counters     sync.Map
}

// decisionKey is the label set of one decisions counter.
type decisionKey struct {
	site   string
	allow  bool
	reason contract.Reason
}

// NewMetrics creates the metrics and registers them on reg. One Metrics
// may serve several Services following the same store: they record into
// it and drop the series of the sites the store deleted, and never change
// anything else of it. The CA and CRL expiry gauges are read from one
// Service's policy: register its Collector too.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_authz_decisions_total", Help: "Check decisions by site, result (allow, deny) and reason (ok when none).",
		}, []string{"site", "result", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mtlsgate_authz_check_duration_seconds", Help: "Time to decide one Check, excluding gRPC transport.",
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2},
		}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_authz_verdict_cache_total", Help: "Certificate verdict cache lookups by result (hit, miss).",
		}, []string{"result"}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mtlsgate_authz_policy_generation", Help: "Generation of the policy table in use."}),
		revision:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "mtlsgate_authz_policy_revision", Help: "Store revision of the policy table in use."}),
		buildErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mtlsgate_authz_policy_build_errors_total", Help: "Policy objects (sites, CAs, CRLs) that failed to compile, summed over builds.",
		}),
		inError: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtlsgate_authz_policy_objects_in_error", Help: "Policy objects in error in the table in use; requests to such sites fail closed.",
		}),
		buildTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mtlsgate_authz_policy_build_seconds", Help: "Time to compile the policy table.", Buckets: prometheus.ExponentialBuckets(1e-4, 4, 10),
		}),
		uncovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_authz_revocation_uncovered_total",
			Help: "Checks in which a certificate's issuer had CRLs in force but none covered it (a partition or scope not uploaded), so it was not checked for revocation, by site.",
		}, []string{"site"}),
		unchecked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_authz_ocsp_unchecked_total",
			Help: "Checks in which OCSP should have checked a certificate that names no responder (and whose CA sets none), so it was not checked by OCSP, by site.",
		}, []string{"site"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_authz_refused_calls_total", Help: "Check calls refused with a gRPC error because the caller is not an unrevoked Envoy node, by reason.",
		}, []string{"reason"}),
	}
	m.hits, m.misses = m.cache.WithLabelValues("hit"), m.cache.WithLabelValues("miss")
	reg.MustRegister(m.decisions, m.latency, m.cache, m.generation, m.revision, m.buildErrors, m.inError, m.buildTime, m.uncovered, m.unchecked, m.refused)
	return m
}

func (m *Metrics) refusedCall(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) observeCheck(d *Decision, took time.Duration) {
	if m == nil {
		return
	}
	m.decisionCounter(d).Inc()
	m.latency.Observe(took.Seconds())
	if d.Uncovered {
		m.uncovered.WithLabelValues(d.Site).Inc() // rare: no cached counter
	}
	if d.OCSPUnchecked {
		m.unchecked.WithLabelValues(d.Site).Inc()
	}
	if d.Fingerprint != "" || d.Reason == contract.ReasonMalformed {
		if d.CacheHit {
			m.hits.Inc()
		} else {
			m.misses.Inc()
		}
	}
}

// decisionCounter returns the decisions counter for d's labels.
func (m *Metrics) decisionCounter(d *Decision) prometheus.Counter {
	k := decisionKey{d.Site, d.Allow, d.Reason}
	if c, ok := m.counters.Load(k); ok {
		return c.(prometheus.Counter)
	}
	result, reason := decisionLabels(k)
	c, _ := m.counters.LoadOrStore(k, m.decisions.WithLabelValues(d.Site, result, reason))
	return c.(prometheus.Counter)
}

// decisionLabels are the result and reason labels of k: "allow" or
// "deny", and the reason, "ok" when none. RecentDecisions reports the
// same.
func decisionLabels(k decisionKey) (result, reason string) {
	result, reason = "deny", string(k.reason)
	if k.allow {
		result = "allow"
	}
	if reason == "" {
		reason = "ok"
	}
	return result, reason
}

func (m *Metrics) observeBuild(t *Table, took time.Duration) {
	if m == nil {
		return
	}
	m.generation.Set(float64(t.Gen))
	m.revision.Set(float64(t.Rev))
	m.buildErrors.Add(float64(len(t.Errors)))
	m.inError.Set(float64(len(t.Errors)))
	m.buildTime.Observe(took.Seconds())
}

// forgetSites drops the series of sites that are gone, so that a deleted
// site's labels do not stay exported for the life of the process.
func (m *Metrics) forgetSites(hosts []string) {
	if m == nil || len(hosts) == 0 {
		return
	}
	// The cached children first: a Check recording meanwhile makes a new
	// child, which the deletion below then removes.
	m.counters.Range(func(k, _ any) bool {
		if slices.Contains(hosts, k.(decisionKey).site) {
			m.counters.Delete(k)
		}
		return true
	})
	for _, h := range hosts {
		m.decisions.DeletePartialMatch(prometheus.Labels{"site": h})
		m.uncovered.DeleteLabelValues(h)
		m.unchecked.DeleteLabelValues(h)
	}
}

// expiryCollector reports, at scrape time, the seconds until each client
// CA certificate expires and until each CRL's nextUpdate (negative once
// past), so that operators can alert before renewals are due.
// It reads a Service's policy table: register Service.Collector.
type expiryCollector struct {
	table *atomic.Pointer[Table]
	now   func() time.Time
}

var (
	caExpiryDesc = prometheus.NewDesc("mtlsgate_client_ca_expiry_seconds",
		"Seconds until a client CA certificate's notAfter (negative once expired).",
		[]string{"ca_id", "ca_name", "subject", "fingerprint"}, nil)
	crlNextDesc = prometheus.NewDesc("mtlsgate_crl_next_update_seconds",
		"Seconds until a CRL's nextUpdate (negative once stale), by CRL and what it covers: scope (all, user, ca) and partition (its distribution point URIs, space-separated; empty when none).",
		[]string{"crl_id", "ca_id", "issuer", "scope", "partition"}, nil)
)

func (c expiryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- caExpiryDesc
	ch <- crlNextDesc
}

func (c expiryCollector) Collect(ch chan<- prometheus.Metric) {
	t, now := c.table.Load(), c.now()
	for id, ca := range t.model.CAs {
		for i, cert := range ca.Certs {
			info := ca.Msg.GetCertificates()[i]
			ch <- prometheus.MustNewConstMetric(caExpiryDesc, prometheus.GaugeValue,
				cert.X509.NotAfter.Sub(now).Seconds(), id, ca.Msg.GetName(), info.GetSubject(), info.GetSha256Fingerprint())
		}
	}
	for id, e := range t.model.CRLs {
		if e.Set == nil {
			continue // not used: its error is reported
		}
		if nu := e.Set.NextUpdate(); !nu.IsZero() {
			ch <- prometheus.MustNewConstMetric(crlNextDesc, prometheus.GaugeValue,
				nu.Sub(now).Seconds(), id, e.Msg.GetCaId(), e.Msg.GetIssuer(), scopeLabel(e.Set.Scope()), strings.Join(e.Set.Partition(), " "))
		}
	}
}

// scopeLabel is a CRL scope as a metric label value.
func scopeLabel(s crlset.Scope) string {
	switch s {
	case crlset.ScopeUserCerts:
		return "user"
	case crlset.ScopeCACerts:
		return "ca"
	}
	return "all"
}
