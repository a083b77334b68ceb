package webhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtlsgate/mtlsgate/store"
)

// Metrics are the dispatcher's Prometheus metrics. They move on the
// elected replica only; a nil *Metrics records nothing.
type Metrics struct {
	deliveries *prometheus.CounterVec
	retries    *prometheus.CounterVec
	pending    prometheus.Gauge
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_webhook_deliveries_total",
			Help: "Webhook deliveries that ended, by event type and result (delivered, failed).",
		}, []string{"type", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_webhook_attempt_failures_total",
			Help: "Webhook delivery attempts that failed and will be retried (no answer, 5xx, 429), by event type.",
		}, []string{"type"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtlsgate_webhook_pending_deliveries",
			Help: "Webhook deliveries waiting for an attempt (0 unless this replica is the elected dispatcher).",
		}),
	}
	reg.MustRegister(m.deliveries, m.retries, m.pending)
	// Every series from zero, so that the first failure of a type is an
	// increase an alert sees (a series born at 1 is not).
	for _, typ := range store.WebhookEventTypes {
		m.deliveries.WithLabelValues(typ, store.DeliveryDelivered)
		m.deliveries.WithLabelValues(typ, store.DeliveryFailed)
		m.retries.WithLabelValues(typ)
	}
	return m
}

func (m *Metrics) delivered(typ, result string) {
	if m != nil {
		m.deliveries.WithLabelValues(typ, result).Inc()
	}
}

func (m *Metrics) retried(typ string) {
	if m != nil {
		m.retries.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) setPending(n int) {
	if m != nil {
		m.pending.Set(float64(n))
	}
}
