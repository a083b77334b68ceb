package xds

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtlsgate/mtlsgate/store"
)

// serverCertExpiryDesc is the gauge of each site's server certificate.
var serverCertExpiryDesc = prometheus.NewDesc("mtlsgate_server_certificate_expiry_seconds",
	"Seconds until the notAfter of a site's server certificate (the leaf Envoy presents; negative once expired), by site and the leaf's SHA-256 fingerprint. "+
		"Sites whose certificate Envoy reads from files on its own host are not reported.",
	[]string{"site", "fingerprint"}, nil)

// serverCertCollector reports, at scrape time, the seconds until each
// site's server certificate expires, read from the latest State the
// control plane was given: a deleted site's series is gone at the next
// scrape, a renewed certificate's value and fingerprint change with the
// State that holds it.
type serverCertCollector struct {
	state *atomic.Pointer[store.State]
	now   func() time.Time
}

// Collector returns the collector of the server-certificate expiry gauge
// (mtlsgate_server_certificate_expiry_seconds) of the sites s was last
// given: register it beside the Metrics given to NewServer. It reports
// the leaf of every site whose certificate the store holds inline (the
// store reads its facts when the certificate is written); Envoy alone can
// read a certificate given as file paths.
func (s *Server) Collector() prometheus.Collector {
	return serverCertCollector{state: &s.state, now: time.Now}
}

// Describe sends the gauge's description.
func (c serverCertCollector) Describe(ch chan<- *prometheus.Desc) { ch <- serverCertExpiryDesc }

// Collect sends one gauge per site with an inline server certificate.
func (c serverCertCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.state.Load()
	if st == nil {
		return // no State yet
	}
	now := c.now()
	for _, site := range st.Sites() {
		info := site.GetServerCertificate().GetInline().GetInfo()
		if info.GetNotAfter() == nil {
			continue // files on the Envoy host
		}
		ch <- prometheus.MustNewConstMetric(serverCertExpiryDesc, prometheus.GaugeValue,
			info.GetNotAfter().AsTime().Sub(now).Seconds(), site.GetHostname(), info.GetSha256Fingerprint())
	}
}
