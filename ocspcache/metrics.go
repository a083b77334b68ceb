package ocspcache

import (
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Lookup results, the label values of mtlsgate_ocsp_lookups_total.
const (
	resultHit        = iota // a valid cached answer
	resultFetched           // waited for a request, which answered
	resultFailed            // waited for a request, which failed
	resultTimeout           // the caller's budget ended first
	resultBackoff           // the last request failed less than a backoff ago
	resultOverloaded        // too many requests in flight
	nResults
)

var resultNames = [nResults]string{"hit", "fetched", "failed", "timeout", "backoff", "overloaded"}

// maxResponderLabels bounds the responder label's values; responders past
// it are counted as "other".
const maxResponderLabels = 64

// Metrics are the cache's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	lookups    [nResults]prometheus.Counter
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	refreshes  prometheus.Counter
	size       atomic.Pointer[func() int64] // the cache's count, read at scrape time
	mu         sync.Mutex
	responders map[string]string // responder URL → label
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mtlsgate_ocsp_lookups_total",
		Help: "OCSP status lookups by ext_authz, by result (hit, fetched, failed, timeout, backoff, overloaded).",
	}, []string{"result"})
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_ocsp_requests_total",
			Help: "Requests to OCSP responders, by responder (scheme and host) and result (good, revoked, unknown, timeout, http_error, forbidden, responder_error, invalid, network_error).",
		}, []string{"responder", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mtlsgate_ocsp_request_duration_seconds", Help: "Time of one request to an OCSP responder, by responder.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 9),
		}, []string{"responder"}),
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mtlsgate_ocsp_refreshes_total", Help: "Cached OCSP answers asked for again before they expire.",
		}),
		responders: map[string]string{},
	}
	cached := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mtlsgate_ocsp_cache_entries", Help: "Certificates in the OCSP answer cache.",
	}, func() float64 {
		if f := m.size.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	for i, n := range resultNames {
		m.lookups[i] = lookups.WithLabelValues(n)
	}
	reg.MustRegister(lookups, m.requests, m.duration, m.refreshes, cached)
	return m
}

func (m *Metrics) lookup(result int) {
	if m != nil {
		m.lookups[result].Inc()
	}
}

func (m *Metrics) refresh() {
	if m != nil {
		m.refreshes.Inc()
	}
}

// track makes size the source of the cache entries gauge.
func (m *Metrics) track(size func() int64) {
	if m != nil {
		m.size.Store(&size)
	}
}

func (m *Metrics) request(responder, result string, took time.Duration) {
	if m == nil {
		return
	}
	l := m.responderLabel(responder)
	m.requests.WithLabelValues(l, result).Inc()
	if took > 0 {
		m.duration.WithLabelValues(l).Observe(took.Seconds())
	}
}

// responderLabel is a responder URL's label: its scheme and host, or
// "other" once maxResponderLabels URLs are known.
func (m *Metrics) responderLabel(raw string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.responders[raw]; ok {
		return l
	}
	if len(m.responders) >= maxResponderLabels {
		return "other"
	}
	l := "other"
	if u, err := url.Parse(raw); err == nil {
		l = u.Scheme + "://" + u.Host
	}
	m.responders[raw] = l
	return l
}
