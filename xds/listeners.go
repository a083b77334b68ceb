package xds

import (
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Envoy extension names.
const (
	tlsInspectorName = "envoy.filters.listener.tls_inspector"
	hcmName          = "envoy.filters.network.http_connection_manager"
	extAuthzName     = "envoy.filters.http.ext_authz"
	routerName       = "envoy.filters.http.router"
	tlsSocketName    = "envoy.transport_sockets.tls"
)

// httpsListener holds one filter chain per site. There is no default
// chain: a connection whose SNI names no site is closed.
func httpsListener(addr string, chains []*listenerv3.FilterChain) (*listenerv3.Listener, error) {
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	inspector, err := typed(&tlsinspectorv3.TlsInspector{})
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{
		Name:    HTTPSListener,
		Address: socketAddress(host, port),
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name: tlsInspectorName, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: inspector},
		}},
		FilterChains: chains,
	}, nil
}

// httpListener serves plain HTTP for every site from one route table.
func httpListener(addr string) (*listenerv3.Listener, error) {
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	hcm, err := connectionManager("http", HTTPRoute, 0)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{
		Name:         HTTPListener,
		Address:      socketAddress(host, port),
		FilterChains: []*listenerv3.FilterChain{{Name: HTTPListener, Filters: []*listenerv3.Filter{hcm}}},
	}, nil
}

// filterChain is a site's chain on the HTTPS listener.
func filterChain(s *pb.Site, authzTimeout time.Duration) (*listenerv3.FilterChain, error) {
	host := s.GetHostname()
	tlsCtx, err := typed(downstreamTLS(s))
	if err != nil {
		return nil, err
	}
	hcm, err := connectionManager("https_"+statName(host), httpsRouteName(host), authzTimeout)
	if err != nil {
		return nil, err
	}
	return &listenerv3.FilterChain{
		Name:             "site/" + host,
		FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{host}},
		TransportSocket:  &corev3.TransportSocket{Name: tlsSocketName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tlsCtx}},
		Filters:          []*listenerv3.Filter{hcm},
	}, nil
}

// downstreamTLS asks for a client certificate per the site's mode. The
// certificate and the validation context are SDS secrets, so that CA and
// CRL changes do not touch the listener (and drain nothing).
func downstreamTLS(s *pb.Site) *tlsv3.DownstreamTlsContext {
	host, mode := s.GetHostname(), s.GetSettings().GetMode()

	common := &tlsv3.CommonTlsContext{
		TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: minTLS(s.GetSettings().GetMinTlsVersion())},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: serverSecretName(host), SdsConfig: ads()}},
		AlpnProtocols:                  []string{"h2", "http/1.1"},
	}
	asks := asksForCertificates(s)
	if asks {
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: clientCASecretName(host), SdsConfig: ads()},
		}
	}
	return &tlsv3.DownstreamTlsContext{
		CommonTlsContext:         common,
		RequireClientCertificate: wrapperspb.Bool(asks && mode == pb.Mode_MODE_ENFORCE),
	}
}

// asksForCertificates reports whether Envoy requests client certificates
// for a site: in permissive and enforce mode, once the site trusts a CA.
// Without one there is nothing to validate against, so no certificate is
// asked for; ext_authz then denies every request of an enforcing site
// (no_certificate) and reports NONE on a permissive one.
func asksForCertificates(s *pb.Site) bool {
	mode := s.GetSettings().GetMode()
	return (mode == pb.Mode_MODE_PERMISSIVE || mode == pb.Mode_MODE_ENFORCE) && len(s.GetCaIds()) > 0
}

func minTLS(v pb.TLSVersion) tlsv3.TlsParameters_TlsProtocol {
	switch v {
	case pb.TLSVersion_TLS_VERSION_1_0:
		return tlsv3.TlsParameters_TLSv1_0
	case pb.TLSVersion_TLS_VERSION_1_1:
		return tlsv3.TlsParameters_TLSv1_1
	case pb.TLSVersion_TLS_VERSION_1_3:
		return tlsv3.TlsParameters_TLSv1_3
	}
	return tlsv3.TlsParameters_TLSv1_2
}

// connectionManager is the HTTP connection manager of a listener or chain.
// With an authzTimeout (HTTPS chains) it calls mtlsgate's ext_authz before
// routing. Client-sent XFCC
// is always sanitised, paths are normalised before any filter sees them,
// and ports are stripped from Host for virtual host matching.
func connectionManager(statPrefix, routeName string, authzTimeout time.Duration) (*listenerv3.Filter, error) {
	var filters []*hcmv3.HttpFilter
	if authzTimeout > 0 {
		f, err := extAuthzFilter(authzTimeout)
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	router, err := typed(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	filters = append(filters, &hcmv3.HttpFilter{Name: routerName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}})
	hcm, err := typed(&hcmv3.HttpConnectionManager{
		StatPrefix:                   statPrefix,
		CodecType:                    hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier:               &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: ads(), RouteConfigName: routeName}},
		HttpFilters:                  filters,
		ForwardClientCertDetails:     hcmv3.HttpConnectionManager_SANITIZE,
		UseRemoteAddress:             wrapperspb.Bool(true),
		NormalizePath:                wrapperspb.Bool(true),
		MergeSlashes:                 true,
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD,
		StripPortMode:                &hcmv3.HttpConnectionManager_StripAnyHostPort{StripAnyHostPort: true},
	})
	if err != nil {
		return nil, err
	}
	return &listenerv3.Filter{Name: hcmName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm}}, nil
}

// statName makes a hostname safe as a stat prefix segment.
func statName(host string) string {
	return strings.NewReplacer(".", "_", "*", "wildcard").Replace(host)
}
