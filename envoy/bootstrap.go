// Package envoy generates the bootstrap an Envoy proxy needs to join
// mtlsgate's xDS control plane.
//
// The bootstrap is deliberately small: it names the node (id and fleet),
// defines one static cluster, "mtlsgate_xds", that reaches the control plane
// over HTTP/2 with keepalive, and takes everything else (listeners, routes,
// clusters, secrets) from the control plane over one ADS stream. Envoy's own
// admin interface is bound to a local address.
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
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// XDSClusterName is the static cluster through which Envoy reaches the
// control plane.
const XDSClusterName = "mtlsgate_xds"

// Defaults applied to empty BootstrapOptions fields.
const (
	DefaultCluster   = "default"
	DefaultXDSAddr   = "127.0.0.1:18000"
	DefaultAdminAddr = "127.0.0.1:9901"
)

// HTTP/2 keepalive of Envoy's connection to the control plane: Envoy sends a
// PING every KeepaliveInterval (plus Envoy's default 15% jitter) and closes
// the connection, then reconnects, when no answer comes within
// KeepaliveTimeout. This detects a control plane that died without closing
// the connection. A gRPC server refuses pings more frequent than its
// keepalive enforcement policy allows (grpc-go: 5 minutes by default) with
// GOAWAY "too_many_pings", so the xDS server's EnforcementPolicy.MinTime
// must be well below KeepaliveInterval.
const (
	KeepaliveInterval = 30 * time.Second
	KeepaliveTimeout  = 5 * time.Second
)

// connectTimeout bounds one TCP connect to the control plane.
const connectTimeout = time.Second

// httpProtocolOptionsKey is the typed_extension_protocol_options key of
// httpv3.HttpProtocolOptions.
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// BootstrapOptions describes one Envoy node. Empty fields other than NodeID
// take the defaults above.
type BootstrapOptions struct {
	// NodeID names this Envoy to the control plane; unique per Envoy.
	// Required.
	NodeID string
	// Cluster is the fleet the node belongs to (Envoy's node.cluster);
	// default "default".
	Cluster string
	// XDSAddr is host:port of mtlsgate's xDS server; the host is an IP
	// address or a DNS name. Default 127.0.0.1:18000.
	XDSAddr string
	// Delta selects incremental xDS (DELTA_GRPC) instead of state of the
	// world (GRPC) for the ADS stream.
	Delta bool
	// AdminAddr is ip:port of Envoy's own admin interface. It has no
	// authentication, so keep it on a loopback address. Default
	// 127.0.0.1:9901.
	AdminAddr string
}

// Bootstrap returns the Envoy v3 bootstrap of a node of mtlsgate's control
// plane. The options are checked first; a mistake in them is returned as an
// *OptionError. The result passes ValidateAll, including the typed config
// packed in Any fields.
func Bootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	o = o.withDefaults()
	xds, admin, err := o.check()
	if err != nil {
		return nil, err
	}
	cluster, err := xdsCluster(xds)
	if err != nil {
		return nil, err
	}
	b := &bootstrapv3.Bootstrap{
		Node:             &corev3.Node{Id: o.NodeID, Cluster: o.Cluster},
		StaticResources:  &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{cluster}},
		DynamicResources: dynamicResources(o.Delta),
		Admin:            &bootstrapv3.Admin{Address: admin.address()},
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

// xdsCluster is the static cluster of the control plane: STATIC for an IP
// address, STRICT_DNS (IPv4 preferred) for a name.
func xdsCluster(xds endpoint) (*clusterv3.Cluster, error) {
	opts, err := http2Options()
	if err != nil {
		return nil, err
	}
	c := &clusterv3.Cluster{
		Name:                          XDSClusterName,
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:                durationpb.New(connectTimeout),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsKey: opts},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: XDSClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
						Endpoint: &endpointv3.Endpoint{Address: xds.address()},
					},
				}},
			}},
		},
	}
	if !xds.isIP {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		// AUTO would prefer IPv6: "localhost" would then mean ::1 while the
		// server listens on 127.0.0.1 by default.
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}
	return c, nil
}

// http2Options makes the xDS cluster speak HTTP/2 (gRPC) with keepalive.
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
	if err := opts.ValidateAll(); err != nil {
		return nil, fmt.Errorf("envoy: HTTP/2 protocol options are invalid: %w", err)
	}
	a, err := anypb.New(opts)
	if err != nil {
		return nil, fmt.Errorf("envoy: pack HTTP/2 protocol options: %w", err)
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
