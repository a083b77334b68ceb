// Package envoy generates what an Envoy proxy needs to join mtlsgate: its
// bootstrap and, for a node with credentials, the file-based SDS secrets
// that hand those credentials to Envoy.
//
// The bootstrap is deliberately small: it names the node (id and fleet),
// defines two static clusters, "mtlsgate_xds" (the control plane) and
// "mtlsgate_authz" (the ext_authz server), both over HTTP/2 with
// keepalive, and takes everything else (listeners, routes, the origin
// clusters, the sites' secrets) from the control plane over one ADS
// stream. Envoy's own admin interface is bound to a local address.
//
// With a credentials directory (BootstrapOptions.Dir) both static
// clusters speak TLS: they present the node's certificate (node.pem,
// node.key) and verify mtlsgate's serving certificate against ca.pem,
// requiring the URI SAN ServerURI. The credentials reach Envoy as SDS
// secrets read from files (see Files), so renewing them replaces the
// files and reloads them without a restart and without dropping a
// connection.
//
// Bootstrap builds and validates the message; YAML and JSON render it
// deterministically, so the generated files can be golden-tested and
// reviewed.
package envoy

import (
	"fmt"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Static cluster names. The control plane's ext_authz filter names
// AuthzClusterName; the control plane never sends a cluster of either
// name (Envoy refuses a CDS cluster that replaces a static one).
const (
	XDSClusterName   = "mtlsgate_xds"
	AuthzClusterName = "mtlsgate_authz"
)

// Defaults applied to empty BootstrapOptions fields.
const (
	DefaultCluster   = "default"
	DefaultXDSAddr   = "127.0.0.1:18000"
	DefaultAuthzAddr = "127.0.0.1:9191"
	DefaultAdminAddr = "127.0.0.1:9901"
)

// HTTP/2 keepalive of Envoy's connections to mtlsgate: Envoy sends a PING
// every KeepaliveInterval (plus Envoy's default 15% jitter) and closes the
// connection, then reconnects, when no answer comes within
// KeepaliveTimeout. This detects a server that died without closing the
// connection. A gRPC server refuses pings more frequent than its keepalive
// enforcement policy allows (grpc-go: 5 minutes by default) with GOAWAY
// "too_many_pings", so the servers' EnforcementPolicy.MinTime must be well
// below KeepaliveInterval.
const (
	KeepaliveInterval = 30 * time.Second
	KeepaliveTimeout  = 5 * time.Second
)

// connectTimeout bounds one TCP connect to mtlsgate.
const connectTimeout = time.Second

// httpProtocolOptionsKey is the typed_extension_protocol_options key of
// httpv3.HttpProtocolOptions.
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// BootstrapOptions describes one Envoy node. Empty fields other than
// NodeID and Dir take the defaults above.
type BootstrapOptions struct {
	// NodeID names this Envoy to the control plane; unique per Envoy.
	// Required.
	NodeID string
	// Cluster is the fleet the node belongs to (Envoy's node.cluster);
	// default "default".
	Cluster string
	// XDSAddr is host:port of mtlsgate's xDS server; the host is an IP
	// address or a DNS name. Several replicas: their addresses,
	// comma-separated; Envoy health-checks them and fails over (see
	// staticCluster). Default 127.0.0.1:18000.
	XDSAddr string
	// AuthzAddr is host:port of mtlsgate's ext_authz server, or several,
	// as XDSAddr. Default 127.0.0.1:9191.
	AuthzAddr string
	// Delta selects incremental xDS (DELTA_GRPC) instead of state of the
	// world (GRPC) for the ADS stream.
	Delta bool
	// AdminAddr is ip:port of Envoy's own admin interface. It has no
	// authentication, so keep it on a loopback address. Default
	// 127.0.0.1:9901.
	AdminAddr string
	// Dir is the credentials directory as Envoy sees it: an absolute
	// path holding the files of Files. Required unless Plaintext.
	Dir string
	// Plaintext makes a bootstrap without TLS, for a server started with
	// the plaintext opt-out; Dir must then be empty.
	Plaintext bool
	// MaxConnections bounds the node's downstream connections, all
	// listeners together (Envoy's overload manager refuses more).
	// Default DefaultMaxConnections.
	MaxConnections int64
	// MaxHeapBytes, when positive, is the memory Envoy's heap may use:
	// at 95% of it Envoy returns free memory to the system, at 98% it
	// stops accepting requests. Set it below the container's limit.
	MaxHeapBytes int64
}

// Bootstrap returns the Envoy v3 bootstrap of a node of mtlsgate's control
// plane. The options are checked first; a mistake in them is returned as an
// *OptionError. The result passes ValidateAll, including the typed configs
// packed in Any fields.
func Bootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	o = o.withDefaults()
	eps, err := o.check()
	if err != nil {
		return nil, err
	}
	xds, err := staticCluster(XDSClusterName, eps.xds, o.Dir, xdsHealthService)
	if err != nil {
		return nil, err
	}
	authz, err := staticCluster(AuthzClusterName, eps.authz, o.Dir, authzHealthService)
	if err != nil {
		return nil, err
	}
	overload, err := overloadManager(o.MaxConnections, o.MaxHeapBytes)
	if err != nil {
		return nil, err
	}
	b := &bootstrapv3.Bootstrap{
		Node:             &corev3.Node{Id: o.NodeID, Cluster: o.Cluster},
		StaticResources:  &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{xds, authz}},
		DynamicResources: dynamicResources(o.Delta),
		// The admin listener (health probes) is not counted against the
		// connection bound: at the bound, probes must still answer.
		Admin:           &bootstrapv3.Admin{Address: eps.admin.address(), IgnoreGlobalConnLimit: true},
		OverloadManager: overload,
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("envoy: generated bootstrap is invalid: %w", err)
	}
	return b, nil
}

// dynamicResources takes listeners and clusters (and through them routes
// and secrets) from one ADS stream to the xDS cluster.
func dynamicResources(delta bool) *bootstrapv3.Bootstrap_DynamicResources {
	apiType := corev3.ApiConfigSource_GRPC
	if delta {
		apiType = corev3.ApiConfigSource_DELTA_GRPC
	}
	return &bootstrapv3.Bootstrap_DynamicResources{
		LdsConfig: adsConfigSource(),
		CdsConfig: adsConfigSource(),
		AdsConfig: &corev3.ApiConfigSource{
			ApiType:             apiType,
			TransportApiVersion: corev3.ApiVersion_V3,
			GrpcServices: []*corev3.GrpcService{{
				TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSClusterName},
				},
			}},
			SetNodeOnFirstMessageOnly: true,
		},
	}
}

// adsConfigSource is a config source that reads from the ADS stream.
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// The gRPC health service names mtlsgate's listeners answer SERVING for
// (server/health.go): Envoy's health checks ask for them.
const (
	xdsHealthService   = "envoy.service.discovery.v3.AggregatedDiscoveryService"
	authzHealthService = "envoy.service.auth.v3.Authorization"
)

// Active health checking of several replicas: a replica that fails two
// checks in a row (or stops answering within the timeout) gets no new
// connections or Checks until it passes one again, so one that dies is
// out within about 2 × HealthCheckInterval. Panic mode is off (healthy
// panic threshold 0%): by default Envoy sends to every host, dead ones
// included, once fewer than half are healthy, which with two of three
// replicas down would send two Checks in three to dead hosts.
const (
	HealthCheckInterval = 2 * time.Second
	healthCheckTimeout  = time.Second
)

// staticCluster is a static cluster reaching one of mtlsgate's gRPC
// servers at one or more replicas: STATIC when every host is an IP
// address, else STRICT_DNS (IPv4 preferred); HTTP/2 with keepalive; mTLS
// with the credentials in dir unless dir is empty (plaintext). Several
// replicas are health-checked over gRPC health (service healthService),
// through the same TLS.
func staticCluster(name string, at []endpoint, dir, healthService string) (*clusterv3.Cluster, error) {
	opts, err := http2Options()
	if err != nil {
		return nil, err
	}
	c := &clusterv3.Cluster{
		Name:                          name,
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:                durationpb.New(connectTimeout),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsKey: opts},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints:   []*endpointv3.LocalityLbEndpoints{{}},
		},
	}
	allIP := true
	for _, e := range at {
		c.LoadAssignment.Endpoints[0].LbEndpoints = append(c.LoadAssignment.Endpoints[0].LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: e.address()}},
		})
		allIP = allIP && e.isIP
	}
	if !allIP {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		// AUTO would prefer IPv6: "localhost" would then mean ::1 while the
		// server listens on 127.0.0.1 by default.
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}
	if len(at) > 1 {
		c.HealthChecks = []*corev3.HealthCheck{grpcHealthCheck(healthService)}
		c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: 0}}
	}
	if dir != "" {
		if c.TransportSocket, err = nodeTLS(dir); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// grpcHealthCheck checks a replica's gRPC health for service.
func grpcHealthCheck(service string) *corev3.HealthCheck {
	return &corev3.HealthCheck{
		Timeout: durationpb.New(healthCheckTimeout), Interval: durationpb.New(HealthCheckInterval),
		// The same pace before the cluster has seen traffic (Envoy's
		// default there is a minute).
		NoTrafficInterval:  durationpb.New(HealthCheckInterval),
		UnhealthyThreshold: wrapperspb.UInt32(2), HealthyThreshold: wrapperspb.UInt32(1),
		HealthChecker: &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{ServiceName: service}},
	}
}

// http2Options makes a cluster speak HTTP/2 (gRPC) with keepalive.
// ValidateAll does not look inside Any, so the options are validated before
// they are packed.
func http2Options() (*anypb.Any, error) {
	opts := &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
						ConnectionKeepalive: &corev3.KeepaliveSettings{
							Interval: durationpb.New(KeepaliveInterval),
							Timeout:  durationpb.New(KeepaliveTimeout),
						},
					},
				},
			},
		},
	}
	return pack(opts, "HTTP/2 protocol options")
}

// validator is every generated Envoy message.
type validator interface {
	ValidateAll() error
}

// pack validates m and packs it in an Any.
func pack[M interface {
	validator
	proto.Message
}](m M, what string) (*anypb.Any, error) {
	if err := m.ValidateAll(); err != nil {
		return nil, fmt.Errorf("envoy: %s are invalid: %w", what, err)
	}
	a, err := anypb.New(m)
	if err != nil {
		return nil, fmt.Errorf("envoy: pack %s: %w", what, err)
	}
	return a, nil
}

// address is e as an Envoy TCP socket address.
func (e endpoint) address() *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{
			Address:       e.host,
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: e.port},
		},
	}}
}
