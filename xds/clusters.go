package xds

import (
	"net/netip"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mtlsgate/mtlsgate/model"
)

// cluster is the shape every mtlsgate cluster shares: one endpoint,
// resolved by DNS unless it is an IP literal.
func cluster(name, host string, port uint32, connectTimeout time.Duration) *clusterv3.Cluster {
	kind := clusterv3.Cluster_STRICT_DNS
	if _, err := netip.ParseAddr(host); err == nil {
		kind = clusterv3.Cluster_STATIC
	}
	return &clusterv3.Cluster{
		Name:                          name,
		ConnectTimeout:                durationpb.New(connectTimeout),
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: kind},
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(bufferLimit),
		DnsLookupFamily:               clusterv3.Cluster_V4_PREFERRED,
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(host, port)}},
			}}}},
		},
	}
}

// originCluster reaches a site's origin; an https origin's certificate is
// verified against the Envoy host's CA bundle and must name the origin.
func originCluster(site string, o model.Origin, caFile string) (*clusterv3.Cluster, error) {
	c := cluster(originClusterName(site), o.Host, o.Port, 5*time.Second)
	if !o.TLS {
		return c, nil
	}
	sanType := tlsv3.SubjectAltNameMatcher_DNS
	if _, err := netip.ParseAddr(o.Host); err == nil {
		sanType = tlsv3.SubjectAltNameMatcher_IP_ADDRESS
	}
	up, err := typed(&tlsv3.UpstreamTlsContext{
		Sni: o.Host,
		CommonTlsContext: &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
			ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: caFile}},
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
					SanType: sanType,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o.Host}},
				}},
			},
		}},
	})
	if err != nil {
		return nil, err
	}
	c.TransportSocket = &corev3.TransportSocket{Name: tlsSocketName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: up}}
	return c, nil
}
