package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mtlsgate/mtlsgate/store"
)

// Service names each listener answers gRPC health for, besides "".
const (
	adminService = "mtlsgate.v1.CertificateManagerService"
	authzService = "envoy.service.auth.v3.Authorization"
	xdsService   = "envoy.service.discovery.v3.AggregatedDiscoveryService"
)

// healthFor registers a health server on g that answers SERVING for the
// empty name and for each of services, and returns it so that shutdown
// can turn every name NOT_SERVING.
func healthFor(g *grpc.Server, services ...string) *health.Server {
	h := health.NewServer()
	for _, name := range services {
		h.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(g, h)
	return h
}

// notServing turns every health server NOT_SERVING, first thing on
// shutdown, so that health checkers stop sending work before listeners
// close.
func notServing(hs []*health.Server) {
	for _, h := range hs {
		h.Shutdown()
	}
}

// readyz answers 200 while the store's backend answers, and 503 while it
// does not: ext_authz and xDS keep serving the last configuration, but
// nothing can be changed, so a load balancer should send writes to
// another replica. (/healthz stays 200: restarting would not help, and a
// replica that cannot reach its store cannot start.) The reason is in the
// log and behind /metrics, not here: this path needs no token.
func readyz(st *store.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		h := st.Health()
		if h.OK {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "store unavailable since %s\n", h.Since.UTC().Format(time.RFC3339))
	}
}

// storeUp reports the store's health as the gauge mtlsgate_store_up.
func storeUp(st *store.Store) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mtlsgate_store_up",
		Help: "1 while the store's backend (the bbolt file, or the etcd cluster) answers; 0 while it does not: the last configuration keeps serving and writes are refused.",
	}, func() float64 {
		if st.Health().OK {
			return 1
		}
		return 0
	})
}
