package xds

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mtlsgate/mtlsgate/contract"
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
		CheckSettings: &extauthzv3.CheckSettings{ContextExtensions: map[string]string{contract.SiteExtension: host}},
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

// HTTPRedirect reports the site's effective http_redirect: unset means on.
func HTTPRedirect(s *pb.ClientCertSettings) bool {
	return s.HttpRedirect == nil || s.GetHttpRedirect()
}

// plainAction is what the plain HTTP listener does with a site's requests.
type plainAction int

const (
	plainRedirect plainAction = iota // 301 to HTTPS, no check
	plainRefuse                      // a direct response, never forwarded
	plainCheck                       // ext_authz (verify NONE), then the origin
	plainForward                     // the origin, no check (disabled sites)
)

// plainActionOf decides a site's plain HTTP: redirected unless the
// operator turned it off; then refused for an enforcing site, checked for
// a permissive one, forwarded for a disabled one.
func plainActionOf(s *pb.Site) plainAction {
	set := s.GetSettings()
	switch {
	case HTTPRedirect(set):
		return plainRedirect
	case set.GetMode() == pb.Mode_MODE_ENFORCE:
		return plainRefuse
	case set.GetMode() == pb.Mode_MODE_PERMISSIVE:
		return plainCheck
	}
	return plainForward
}

// authzOff turns ext_authz off on a route of the plain HTTP listener,
// packed once.
var authzOff = mustTyped(&extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_Disabled{Disabled: true}})

// mustTyped packs a per-route config of a constant shape, validated,
// with its map entries in a deterministic order (the same State must give
// byte-identical resources).
func mustTyped(m validator) *anypb.Any {
	if err := m.ValidateAll(); err != nil {
		panic(err) // a constant shape: cannot fail for a valid host
	}
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(err)
	}
	return a
}

// httpVirtualHost is a site on the plain HTTP listener (see plainActionOf),
// without its request_headers_to_remove (plainRemove).
func httpVirtualHost(s *pb.Site, httpsPort uint32) *routev3.VirtualHost {
	host := s.GetHostname()
	r := &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		TypedPerFilterConfig: map[string]*anypb.Any{extAuthzName: authzOff}}
	toOrigin := &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: originClusterName(host)}}}
	switch plainActionOf(s) {
	case plainRedirect:
		redirect := &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}}
		if httpsPort != 443 {
			redirect.PortRedirect = httpsPort
		}
		r.Action = &routev3.Route_Redirect{Redirect: redirect}
	case plainRefuse:
		r.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status: missingStatus(s.GetSettings())}}
	case plainCheck:
		r.Action = toOrigin
		r.TypedPerFilterConfig = map[string]*anypb.Any{extAuthzName: mustTyped(&extauthzv3.ExtAuthzPerRoute{
			Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{CheckSettings: &extauthzv3.CheckSettings{
				ContextExtensions: map[string]string{contract.SiteExtension: host, contract.ListenerExtension: contract.ListenerHTTP}}}})}
	default:
		r.Action = toOrigin
	}
	return &routev3.VirtualHost{Name: host, Domains: []string{host}, Routes: []*routev3.Route{r}}
}

// missingStatus is the status of an enforcing site's request without a
// certificate.
func missingStatus(s *pb.ClientCertSettings) uint32 {
	if c := s.GetMissingCertificateStatus(); c != 0 {
		return c
	}
	return 403
}

// plainRemove is what a site's plain HTTP virtual host removes from every
// request: every header name the site owns, except, when the request goes
// through ext_authz, the verify header the answer sets (Envoy applies
// the route's removals after ext_authz; the answer removes the rest too).
func plainRemove(s *pb.Site, names *siteNames) []string {
	if plainActionOf(s) == plainCheck {
		return names.plain
	}
	return names.all
}
