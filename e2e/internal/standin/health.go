package standin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthCheckCfg is a compiled active gRPC health check, as Envoy runs
// one: every interval (no_traffic_interval before any traffic, which the
// stand-in does not tell apart: both must be equal), a gRPC health Check
// of service through the cluster's transport socket within timeout; a host
// turns unhealthy after unhealthy failures in a row and healthy again
// after healthy successes.
type healthCheckCfg struct {
	interval, timeout  time.Duration
	unhealthy, healthy int
	service            string
}

// healthCheck compiles the bootstrap cluster's health_checks: none, or
// one gRPC health check.
func (cc *clusterCfg) healthCheck(c *clusterv3.Cluster) error {
	hcs := c.GetHealthChecks()
	if len(hcs) == 0 {
		return nil
	}
	if len(hcs) > 1 {
		return errors.New("one health check is implemented")
	}
	if c.GetCommonLbConfig().GetHealthyPanicThreshold() == nil {
		return errors.New("health checks need common_lb_config.healthy_panic_threshold 0% (Envoy's panic mode is not implemented)")
	}
	h := hcs[0]
	g := h.GetGrpcHealthCheck()
	if g == nil {
		return errors.New("only grpc_health_check is implemented")
	}
	hc := &healthCheckCfg{interval: h.GetInterval().AsDuration(), timeout: h.GetTimeout().AsDuration(),
		unhealthy: int(h.GetUnhealthyThreshold().GetValue()), healthy: int(h.GetHealthyThreshold().GetValue()), service: g.GetServiceName()}
	if nt := h.GetNoTrafficInterval(); nt != nil && nt.AsDuration() != hc.interval {
		return errors.New("no_traffic_interval must equal interval (the stand-in does not track traffic)")
	}
	if hc.interval <= 0 || hc.timeout <= 0 || hc.unhealthy < 1 || hc.healthy < 1 {
		return fmt.Errorf("health check needs a positive interval and timeout and thresholds of at least 1")
	}
	cc.hc = hc
	return nil
}

// pick chooses the endpoint of a new connection: round robin over the
// healthy ones; -1 when none is. Envoy's panic mode (all hosts once fewer
// than the threshold are healthy) is implemented only at the threshold
// mtlsgate sets, 0% (never), which the allowlist enforces; without health
// checking every host counts as healthy.
func (rt *clusterRT) pick() int {
	n := len(rt.cfg.endpoints)
	start := int(rt.next.Add(1) % uint64(n))
	for k := range n {
		if i := (start + k) % n; rt.health[i].Load() {
			return i
		}
	}
	return -1
}

// errNoHealthyHost is a dial with every host of the cluster unhealthy.
var errNoHealthyHost = errors.New("no healthy upstream host")

// startHealthChecks starts one checker per endpoint when the cluster has
// a health check; close stops and waits for them.
func (rt *clusterRT) startHealthChecks() {
	if rt.cfg.hc == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt.stopHC = cancel
	for i := range rt.cfg.endpoints {
		rt.hc.Go(func() { rt.healthLoop(ctx, i) })
	}
}

// healthLoop checks endpoint i every interval until ctx ends.
func (rt *clusterRT) healthLoop(ctx context.Context, i int) {
	ep, hc := rt.cfg.endpoints[i], rt.cfg.hc
	conn, err := grpc.NewClient("passthrough:///"+rt.cfg.name, append(rt.grpcOptions(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return rt.dialTransportTo(ctx, ep) }))...)
	if err != nil {
		return
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	failures, successes := 0, 0
	t := time.NewTicker(hc.interval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, hc.timeout)
		resp, err := client.Check(cctx, &healthpb.HealthCheckRequest{Service: hc.service})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			failures, successes = 0, successes+1
			if successes >= hc.healthy {
				rt.health[i].Store(true)
			}
		} else {
			failures, successes = failures+1, 0
			if failures >= hc.unhealthy {
				rt.health[i].Store(false)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
