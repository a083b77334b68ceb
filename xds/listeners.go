package xds

import (
	"fmt"
	"slices"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Envoy extension names.
const (
	tlsInspectorName = "envoy.filters.listener.tls_inspector"
	hcmName          = "envoy.filters.network.http_connection_manager"
	extAuthzName     = "envoy.filters.http.ext_authz"
	routerName       = "envoy.filters.http.router"
	tlsSocketName    = "envoy.transport_sockets.tls"
	// The gRPC access loggers (envoy.extensions.access_loggers.grpc.v3).
	httpGRPCLoggerName = "envoy.access_loggers.http_grpc"
	tcpGRPCLoggerName  = "envoy.access_loggers.tcp_grpc"
)

// httpsListener holds one filter chain per site. There is no default
// chain: a connection whose SNI names no site is closed.
//
// Every connection is logged to the control plane as it closes (log):
// that is where Envoy reports a TLS handshake that failed, which reaches
// neither ext_authz nor a request log.
func httpsListener(addr string, chains []*listenerv3.FilterChain, log *accesslogv3.AccessLog) (*listenerv3.Listener, error) {
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
		FilterChains:                  chains,
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(bufferLimit),
		AccessLog:                     []*accesslogv3.AccessLog{log},
	}, nil
}

// httpListener serves plain HTTP for every site from one route table. It
// runs ext_authz as HTTPS chains do; each route says whether to call it
// (see httpVirtualHost): a request matching no site is checked, and
// refused.
func httpListener(addr string, f *httpFilters) (*listenerv3.Listener, error) {
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	hcm, err := connectionManager("http", HTTPRoute, f.https(), f.logs.requests)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{
		Name:                          HTTPListener,
		Address:                       socketAddress(host, port),
		FilterChains:                  []*listenerv3.FilterChain{{Name: HTTPListener, Filters: []*listenerv3.Filter{hcm}}},
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(bufferLimit),
	}, nil
}

// chainRefs are the resources a filter chain names: its route
// configuration (RDS) and its SDS secrets.
type chainRefs struct {
	route   string
	secrets []string
}

// filterChain is a site's chain on the HTTPS listener, and what it names.
func filterChain(ms *model.Site, f *httpFilters) (*listenerv3.FilterChain, chainRefs, error) {
	s := ms.Msg
	host := s.GetHostname()
	tls := downstreamTLS(s, asksForCertificates(ms))
	refs := chainRefs{route: httpsRouteName(host), secrets: tlsSecretNames(tls)}
	tlsCtx, err := typed(tls)
	if err != nil {
		return nil, refs, err
	}
	hcm, err := f.httpsManagers.filter("https_"+statName(host), refs.route)
	if err != nil {
		return nil, refs, err
	}
	return &listenerv3.FilterChain{
		Name:             filterChainName(host),
		FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{host}},
		TransportSocket:  &corev3.TransportSocket{Name: tlsSocketName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tlsCtx}},
		// A handshake that does not finish in time frees its slot.
		TransportSocketConnectTimeout: durationpb.New(handshakeTimeout),
		Filters:                       []*listenerv3.Filter{hcm},
	}, refs, nil
}

// downstreamTLS asks for a client certificate per the site's mode (and
// requires one where the handshake verifies: handshakeVerifies). The
// certificate and the validation context are SDS secrets, so that CA and
// CRL changes do not touch the listener (and drain nothing).
func downstreamTLS(s *pb.Site, asks bool) *tlsv3.DownstreamTlsContext {
	host := s.GetHostname()

	common := &tlsv3.CommonTlsContext{
		TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: minTLS(s.GetSettings().GetMinTlsVersion())},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: serverSecretName(host), SdsConfig: ads()}},
		AlpnProtocols:                  []string{"h2", "http/1.1"},
	}
	if asks {
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: clientCASecretName(host), SdsConfig: ads()},
		}
	}
	return &tlsv3.DownstreamTlsContext{
		CommonTlsContext:         common,
		RequireClientCertificate: wrapperspb.Bool(asks && handshakeVerifies(s)),
	}
}

// tlsSecretNames are the SDS secrets a downstream TLS context names.
func tlsSecretNames(ctx *tlsv3.DownstreamTlsContext) []string {
	common := ctx.GetCommonTlsContext()
	var out []string
	for _, c := range common.GetTlsCertificateSdsSecretConfigs() {
		out = append(out, c.GetName())
	}
	if v := common.GetValidationContextSdsSecretConfig(); v != nil {
		out = append(out, v.GetName())
	}
	return out
}

// asksForCertificates reports whether Envoy requests client certificates
// for a site: in permissive and enforce mode, once the site trusts a CA
// or admits a self-signed certificate bound to an identity (both anchors
// of its Trust). Without one there is nothing to validate against, so no
// certificate is asked for; ext_authz then denies every request of an
// enforcing site (no_certificate) and reports NONE on a permissive one.
func asksForCertificates(ms *model.Site) bool {
	mode := ms.Msg.GetSettings().GetMode()
	return (mode == pb.Mode_MODE_PERMISSIVE || mode == pb.Mode_MODE_ENFORCE) && len(ms.Trust.Certs) > 0
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

// httpFilters are the HTTP filters of mtlsgate's connection managers,
// packed once per Translator and shared by every chain.
type httpFilters struct {
	// authz is mtlsgate's ext_authz; nil without an authz timeout (only
	// possible with Options a configuration would refuse), as HTTPS chains
	// then have none.
	authz  *hcmv3.HttpFilter
	router *hcmv3.HttpFilter
	// httpsManagers packs HTTPS chains' connection managers.
	httpsManagers *httpsManagers
	// logs are the access logs of the managers and the HTTPS listener.
	logs *accessLogs
}

func newHTTPFilters(authzTimeout time.Duration) (*httpFilters, error) {
	router, err := typed(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	f := &httpFilters{router: &hcmv3.HttpFilter{Name: routerName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}}
	// Without the ext_authz filter an HTTPS chain would admit every
	// request: refuse to translate rather than fail open.
	if authzTimeout <= 0 {
		return nil, fmt.Errorf("%w: the ext_authz timeout must be positive, got %s", ErrInvalidOptions, authzTimeout)
	}
	if f.authz, err = extAuthzFilter(authzTimeout); err != nil {
		return nil, err
	}
	if f.logs, err = newAccessLogs(); err != nil {
		return nil, err
	}
	if f.httpsManagers, err = newHTTPSManagers(f.https(), f.logs.requests); err != nil {
		return nil, err
	}
	return f, nil
}

// https are the filters of an HTTPS chain: ext_authz, then the router.
func (f *httpFilters) https() []*hcmv3.HttpFilter {
	if f.authz == nil {
		return []*hcmv3.HttpFilter{f.router}
	}
	return []*hcmv3.HttpFilter{f.authz, f.router}
}

// connectionManager is the HTTP connection manager of a listener or chain,
// packed.
func connectionManager(statPrefix, routeName string, filters []*hcmv3.HttpFilter, log *accesslogv3.AccessLog) (*listenerv3.Filter, error) {
	hcm, err := typed(connectionManagerConfig(statPrefix, routeName, filters, log))
	if err != nil {
		return nil, err
	}
	return hcmFilter(hcm), nil
}

// connectionManagerConfig is the configuration of an HTTP connection
// manager running filters (on HTTPS chains: mtlsgate's ext_authz, then
// the router). Client-sent XFCC is always sanitised, paths are normalised
// before any filter sees them, ports are stripped from Host for virtual
// host matching, and the limits, timeouts and access log of harden apply.
func connectionManagerConfig(statPrefix, routeName string, filters []*hcmv3.HttpFilter, log *accesslogv3.AccessLog) *hcmv3.HttpConnectionManager {
	h := &hcmv3.HttpConnectionManager{
		StatPrefix:                   statPrefix,
		CodecType:                    hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier:               rds(routeName),
		HttpFilters:                  filters,
		ForwardClientCertDetails:     hcmv3.HttpConnectionManager_SANITIZE,
		UseRemoteAddress:             wrapperspb.Bool(true),
		NormalizePath:                wrapperspb.Bool(true),
		MergeSlashes:                 true,
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD,
		StripPortMode:                &hcmv3.HttpConnectionManager_StripAnyHostPort{StripAnyHostPort: true},
	}
	harden(h, log)
	return h
}

func rds(routeName string) *hcmv3.HttpConnectionManager_Rds {
	return &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: ads(), RouteConfigName: routeName}}
}

func hcmFilter(config *anypb.Any) *listenerv3.Filter {
	return &listenerv3.Filter{Name: hcmName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: config}}
}

// httpsManagers packs the connection managers of HTTPS chains, which
// differ only in their stat prefix and route name (fields 2 and 3 of the
// message). The encoding of the rest is made and validated once, split
// at its fields; a chain's is that with its own two fields in their
// places: byte for byte what typed makes (TestHTTPSManagersAreTyped), at
// a fraction of the cost.
type httpsManagers struct {
	typeURL string
	// parts are the template's encoded fields in encoding order, runs of
	// fixed ones joined; a chain's own fields go where num is set.
	parts []managerPart
	size  int
}

// managerPart is a run of fixed encoded fields, or the place of a chain's
// own field.
type managerPart struct {
	num   protowire.Number // statPrefixField or routeField; 0 for fixed bytes
	fixed []byte
}

// The fields of an HttpConnectionManager that differ between chains.
const (
	statPrefixField protowire.Number = 2
	routeField      protowire.Number = 3
)

func newHTTPSManagers(filters []*hcmv3.HttpFilter, log *accesslogv3.AccessLog) (*httpsManagers, error) {
	packed, err := typed(connectionManagerConfig("https_template", httpsRouteName("template.invalid"), filters, log))
	if err != nil {
		return nil, err
	}
	m := &httpsManagers{typeURL: packed.GetTypeUrl()}
	seen := map[protowire.Number]int{}
	err = eachField(packed.GetValue(), func(num protowire.Number, field []byte) {
		seen[num]++
		switch {
		case num == statPrefixField || num == routeField:
			m.parts = append(m.parts, managerPart{num: num})
		case len(m.parts) > 0 && m.parts[len(m.parts)-1].num == 0:
			m.parts[len(m.parts)-1].fixed = append(m.parts[len(m.parts)-1].fixed, field...)
		default:
			m.parts = append(m.parts, managerPart{fixed: slices.Clone(field)})
		}
		m.size += len(field)
	})
	if err != nil || seen[statPrefixField] != 1 || seen[routeField] != 1 {
		return nil, fmt.Errorf("template HTTP connection manager: fields %v: %v", seen, err)
	}
	return m, nil
}

// eachField calls fn with every top-level field of an encoded message.
func eachField(b []byte, fn func(num protowire.Number, field []byte)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		v := protowire.ConsumeFieldValue(num, typ, b[n:])
		if v < 0 {
			return protowire.ParseError(v)
		}
		fn(num, b[:n+v])
		b = b[n+v:]
	}
	return nil
}

// filter is the connection manager of an HTTPS chain.
func (m *httpsManagers) filter(statPrefix, routeName string) (*listenerv3.Filter, error) {
	own := &hcmv3.HttpConnectionManager{StatPrefix: statPrefix, RouteSpecifier: rds(routeName)}
	name := own.ProtoReflect().Descriptor().FullName()
	if err := own.ValidateAll(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	enc, err := proto.Marshal(own)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", name, err)
	}
	var fields [routeField + 1][]byte
	if err := eachField(enc, func(num protowire.Number, field []byte) {
		if num < protowire.Number(len(fields)) {
			fields[num] = field
		}
	}); err != nil {
		return nil, fmt.Errorf("pack %s: %w", name, err)
	}
	out := make([]byte, 0, m.size+len(enc))
	for _, p := range m.parts {
		if p.num != 0 {
			out = append(out, fields[p.num]...)
		} else {
			out = append(out, p.fixed...)
		}
	}
	return hcmFilter(&anypb.Any{TypeUrl: m.typeURL, Value: out}), nil
}

// statNames makes hostnames safe as stat prefix segments.
var statNames = strings.NewReplacer(".", "_", "*", "wildcard")

// statName makes a hostname safe as a stat prefix segment.
func statName(host string) string { return statNames.Replace(host) }
