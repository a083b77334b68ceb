package accesslog

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Bounds on the label sets. Sites come from the store (and "unknown"),
// results from a closed set; statuses (100 to 599) and flag sets are
// closed too but large, so their combinations are bounded.
const (
	// maxFlagSets bounds the distinct flag sets used as labels; later
	// sets are labelled "other".
	maxFlagSets = 64
	// maxRequestSeries bounds the series of requests_failed_total; past
	// it, a new site, status and flags combination is counted under its
	// site with status and flags "other".
	maxRequestSeries = 4096
)

// otherLabel stands for a status or flag set beyond the bounds.
const otherLabel = "other"

// Metrics are the access log server's Prometheus metrics. A nil *Metrics
// records nothing.
type Metrics struct {
	connections *prometheus.CounterVec
	requests    *prometheus.CounterVec
	dropped     prometheus.Counter
	refused     *prometheus.CounterVec
	hasSite     func(key string) bool

	mu       sync.Mutex
	conns    map[connKey]prometheus.Counter
	reqs     map[reqKey]prometheus.Counter
	flagSets map[string]bool
}

type connKey struct{ site, result string }

type reqKey struct{ site, status, flags string }

// NewMetrics creates the metrics and registers them on reg. hasSite
// reports whether a site key still exists (authz.Service.HasSite): at
// each scrape, the series of sites that no longer do are dropped first,
// so a deleted site's labels do not stay exported. Nil keeps every
// series.
func NewMetrics(reg prometheus.Registerer, hasSite func(key string) bool) *Metrics {
	m := &Metrics{
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_envoy_connections_total",
			Help: "Downstream connections Envoy's HTTPS listener closed, by site (of the SNI; unknown when none) and result: ok, or why the TLS handshake failed (no_client_certificate, bad_client_certificate, server_certificate_rejected, protocol, not_tls, other), or no_filter_chain when its SNI named no site.",
		}, []string{"site", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_envoy_requests_failed_total",
			Help: "Requests Envoy answered with a status from 400 up or a response flag, by site (of the SNI, else the authority; unknown when none), status (100 to 599, else other) and flags (Envoy's short names joined by \",\"; - when none).",
		}, []string{"site", "status", "flags"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mtlsgate_envoy_access_log_dropped_entries_total",
			Help: "Access log entries not handled because a message carried more than the entries handled per message.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_envoy_access_log_refused_streams_total",
			Help: "Access log streams refused or ended with an error, by reason.",
		}, []string{"reason"}),
		hasSite: hasSite,
		conns:   map[connKey]prometheus.Counter{}, reqs: map[reqKey]prometheus.Counter{}, flagSets: map[string]bool{},
	}
	reg.MustRegister(m)
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.connections.Describe(ch)
	m.requests.Describe(ch)
	m.dropped.Describe(ch)
	m.refused.Describe(ch)
}

// Collect implements prometheus.Collector: it drops the series of deleted
// sites, then collects.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.forgetDeleted()
	m.connections.Collect(ch)
	m.requests.Collect(ch)
	m.dropped.Collect(ch)
	m.refused.Collect(ch)
}

// forgetDeleted drops the series of the sites hasSite no longer knows. An
// entry recorded meanwhile into a dropped series is lost; one recorded
// after makes the series again, dropped at the next scrape.
func (m *Metrics) forgetDeleted() {
	if m.hasSite == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	gone := map[string]bool{}
	for k := range m.conns {
		if k.site != unknownSite && !m.hasSite(k.site) {
			gone[k.site] = true
			delete(m.conns, k)
		}
	}
	for k := range m.reqs {
		if k.site != unknownSite && !m.hasSite(k.site) {
			gone[k.site] = true
			delete(m.reqs, k)
		}
	}
	for site := range gone {
		m.connections.DeletePartialMatch(prometheus.Labels{"site": site})
		m.requests.DeletePartialMatch(prometheus.Labels{"site": site})
	}
}

func (m *Metrics) connection(site, result string) {
	if m == nil {
		return
	}
	k := connKey{site, result}
	m.mu.Lock()
	c := m.conns[k]
	if c == nil {
		c = m.connections.WithLabelValues(site, result)
		m.conns[k] = c
	}
	m.mu.Unlock()
	c.Inc()
}

func (m *Metrics) request(site, status, flags string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if !m.flagSets[flags] {
		if len(m.flagSets) < maxFlagSets {
			m.flagSets[flags] = true
		} else {
			flags = otherLabel
		}
	}
	k := reqKey{site, status, flags}
	c := m.reqs[k]
	if c == nil {
		if len(m.reqs) >= maxRequestSeries {
			k.status, k.flags = otherLabel, otherLabel
		}
		if c = m.reqs[k]; c == nil {
			c = m.requests.WithLabelValues(k.site, k.status, k.flags)
			m.reqs[k] = c
		}
	}
	m.mu.Unlock()
	c.Inc()
}

func (m *Metrics) drop(n int) {
	if m != nil && n > 0 {
		m.dropped.Add(float64(n))
	}
}

func (m *Metrics) refusedStream(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}
