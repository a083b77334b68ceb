package xds

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the control plane's Prometheus metrics. A nil *Metrics
// records nothing.
type Metrics struct {
	connectedEnvoys *prometheus.GaugeVec
	pushes          *prometheus.CounterVec
	pushedResources *prometheus.CounterVec
	nacks           *prometheus.CounterVec
	buildTime       prometheus.Histogram
	buildFailures   prometheus.Counter
	resources       *prometheus.GaugeVec
	sitesInError    prometheus.Gauge
	refusedStreams  *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connectedEnvoys: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mtlsgate_xds_connected_envoys", Help: "Open ADS streams by fleet."}, []string{"fleet"}),
		pushes:          prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtlsgate_xds_pushes_total", Help: "xDS responses sent, by resource type."}, []string{"type"}),
		pushedResources: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtlsgate_xds_pushed_resources_total", Help: "Resources sent in xDS responses, by type."}, []string{"type"}),
		nacks:           prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtlsgate_xds_nacks_total", Help: "Configurations Envoy rejected, by resource type."}, []string{"type"}),
		buildTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mtlsgate_xds_snapshot_build_seconds",
			Help: "Time to translate a State and build its snapshot.", Buckets: prometheus.ExponentialBuckets(1e-4, 4, 10)}),
		buildFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "mtlsgate_xds_snapshot_build_failures_total", Help: "Translations that failed as a whole and were not published."}),
		resources:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mtlsgate_xds_resources", Help: "Resources in the current snapshot, by type."}, []string{"type"}),
		sitesInError:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "mtlsgate_xds_sites_in_error", Help: "Sites left out of the current snapshot because they could not be translated."}),
		refusedStreams: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtlsgate_xds_refused_streams_total",
			Help: "ADS streams refused, or closed, because the node did not authenticate as itself or was revoked, by reason."}, []string{"reason"}),
	}
	reg.MustRegister(m.connectedEnvoys, m.pushes, m.pushedResources, m.nacks, m.buildTime, m.buildFailures, m.resources, m.sitesInError, m.refusedStreams)
	return m
}

func shortType(typeURL string) string { return typeURL[strings.LastIndex(typeURL, ".")+1:] }

func (m *Metrics) connected(fleet string, delta float64) {
	if m != nil {
		m.connectedEnvoys.WithLabelValues(fleet).Add(delta)
	}
}

func (m *Metrics) pushed(typeURL string, n int) {
	if m != nil {
		m.pushes.WithLabelValues(shortType(typeURL)).Inc()
		m.pushedResources.WithLabelValues(shortType(typeURL)).Add(float64(n))
	}
}

func (m *Metrics) nacked(kind string) {
	if m != nil {
		m.nacks.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) refused(reason string) {
	if m != nil {
		m.refusedStreams.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) buildFailed() {
	if m != nil {
		m.buildFailures.Inc()
	}
}

func (m *Metrics) built(r *Resources, took time.Duration) {
	if m == nil {
		return
	}
	m.buildTime.Observe(took.Seconds())
	m.resources.WithLabelValues("Listener").Set(float64(len(r.Listeners)))
	m.resources.WithLabelValues("RouteConfiguration").Set(float64(len(r.Routes)))
	m.resources.WithLabelValues("Cluster").Set(float64(len(r.Clusters)))
	m.resources.WithLabelValues("Secret").Set(float64(len(r.Secrets)))
	m.sitesInError.Set(float64(len(r.SiteErrors)))
}
