package crlfetch

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the fetcher's Prometheus metrics. They move on the replica
// that fetches (the elected one); a nil *Metrics records nothing.
type Metrics struct {
	attempts    *prometheus.CounterVec
	duration    prometheus.Histogram
	sourceCount prometheus.Gauge
	failing     prometheus.Gauge
	lastSuccess *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_crl_fetch_attempts_total",
			Help: "CRL fetch attempts by result (stored, unchanged, not_modified, fetch_error, invalid, stale, store_error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mtlsgate_crl_fetch_duration_seconds", Help: "Time of one CRL fetch attempt, the store's write included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 9),
		}),
		sourceCount: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtlsgate_crl_fetch_sources", Help: "CRL distribution points this replica fetches (0 unless it is the elected fetcher).",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtlsgate_crl_fetch_failing_sources", Help: "CRL distribution points whose last fetch attempt failed.",
		}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mtlsgate_crl_fetch_last_success_timestamp_seconds", Help: "Unix time of the last successful fetch from each CRL distribution point.",
		}, []string{"url"}),
	}
	reg.MustRegister(m.attempts, m.duration, m.sourceCount, m.failing, m.lastSuccess)
	return m
}

func (m *Metrics) attempt(result string, took time.Duration) {
	if m != nil {
		m.attempts.WithLabelValues(result).Inc()
		m.duration.Observe(took.Seconds())
	}
}

func (m *Metrics) success(url string, at time.Time) {
	if m != nil {
		m.lastSuccess.WithLabelValues(url).Set(float64(at.Unix()))
	}
}

func (m *Metrics) forget(url string) {
	if m != nil {
		m.lastSuccess.DeleteLabelValues(url)
	}
}

func (m *Metrics) sources(n, failing int) {
	if m != nil {
		m.sourceCount.Set(float64(n))
		m.failing.Set(float64(failing))
		if n == 0 {
			m.lastSuccess.Reset()
		}
	}
}
