package xds

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mtlsgate/mtlsgate/authz"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// extAuthzFilter calls mtlsgate's Check with the peer certificate and the
// TLS session (SNI), failing closed: no answer within timeout is a 503.
func extAuthzFilter(timeout time.Duration) (*hcmv3.HttpFilter, error) {
	cfg, err := typed(&extauthzv3.ExtAuthz{
		Services: &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: AuthzCluster}},
			Timeout:         durationpb.New(timeout),
		}},
		TransportApiVersion:    corev3.ApiVersion_V3,
		FailureModeAllow:       false,
		IncludePeerCertificate: true,
		IncludeTlsSession:      true,
		StatusOnError:          &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
	})
	if err != nil {
		return nil, err
	}
	return &hcmv3.HttpFilter{Name: extAuthzName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: cfg}}, nil
}

// httpsRoute sends every request of a site's HTTPS chain to its origin,
// telling ext_authz which site it is. Every Host is routed: the authz
// server answers 421 when the Host names a stricter site than the SNI.
func httpsRoute(host string) *routev3.RouteConfiguration {
	perRoute, err := typed(&extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{
		CheckSettings: &extauthzv3.CheckSettings{ContextExtensions: map[string]string{authz.SiteExtension: host}},
	}})
	if err != nil {
		panic(err) // a constant shape: cannot fail for a valid host
	}
	return &routev3.RouteConfiguration{
		Name: httpsRouteName(host),
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    host,
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match:                &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action:               &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: originClusterName(host)}}},
				TypedPerFilterConfig: map[string]*anypb.Any{extAuthzName: perRoute},
			}},
		}},
	}
}

// httpVirtualHost is a site on the plain HTTP listener: a redirect to
// HTTPS, or the origin without mTLS (as on every edge platform). Either
// way the client-certificate headers a client sent are removed.
func httpVirtualHost(s *pb.Site, headerNames []string, httpsPort uint32) *routev3.VirtualHost {
	host := s.GetHostname()
	r := &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}}
	if s.GetSettings().GetHttpRedirect() {
		redirect := &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}}
		if httpsPort != 443 {
			redirect.PortRedirect = httpsPort
		}
		r.Action = &routev3.Route_Redirect{Redirect: redirect}
	} else {
		r.Action = &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: originClusterName(host)}}}
	}
	return &routev3.VirtualHost{
		Name:                   host,
		Domains:                []string{host},
		Routes:                 []*routev3.Route{r},
		RequestHeadersToRemove: headerNames,
	}
}
