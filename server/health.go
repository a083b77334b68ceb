package server

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
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
