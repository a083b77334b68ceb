package standin

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Envoy extension names the stand-in implements.
const (
	tlsInspectorName = "envoy.filters.listener.tls_inspector"
	hcmName          = "envoy.filters.network.http_connection_manager"
	extAuthzName     = "envoy.filters.http.ext_authz"
	routerName       = "envoy.filters.http.router"
	tlsSocketName    = "envoy.transport_sockets.tls"
)

// listenerCfg is a compiled Listener.
type listenerCfg struct {
	name     string
	bindAddr string
	tls      bool
	chains   []*chainCfg
	log      *alsCfg // every connection, as it closes; nil: none
}

// chainCfg is a compiled FilterChain.
type chainCfg struct {
	key         string // the chain's deterministic encoding: its identity
	name        string
	serverNames []string
	tls         *downstreamTLS // nil: plaintext
	hcm         *hcmCfg
	// handshake bounds the TLS handshake from the connection's accept
	// (transport_socket_connect_timeout); 0: handshakeTimeout alone.
	handshake time.Duration
}

// downstreamTLS is a compiled DownstreamTlsContext.
type downstreamTLS struct {
	certSecret string
	vcSecret   string // "": no validation context, no client certificate asked
	require    bool
	minVersion uint16
	alpn       []string
}

// hcmCfg is a compiled HttpConnectionManager. The path and header
// handling it implements is fixed (and required by compileHCM).
type hcmCfg struct {
	routeName string
	authz     *authzCfg // nil: no ext_authz filter
	limits    limitsCfg
	log       *alsCfg // failed requests; nil: none
}

// authzCfg is a compiled ExtAuthz filter.
type authzCfg struct {
	cluster       string
	timeout       time.Duration
	includeCert   bool
	includeTLS    bool
	statusOnError int
}

// compileListener checks a listener's semantics and compiles it.
func compileListener(l *listenerv3.Listener, addrs map[string]string) (*listenerCfg, error) {
	c := &listenerCfg{name: l.GetName(), bindAddr: addrs[l.GetName()]}
	if c.bindAddr == "" {
		return nil, fmt.Errorf("no ListenerAddrs entry for listener %q (the stand-in never binds configured addresses)", c.name)
	}
	inspector, err := listenerFilters(l.GetListenerFilters())
	if err != nil {
		return nil, err
	}
	if b := l.GetPerConnectionBufferLimitBytes(); b != nil && b.GetValue() < minBufferLimit {
		return nil, fmt.Errorf("per_connection_buffer_limit_bytes below %d is not implemented", minBufferLimit)
	}
	if c.log, err = compileAccessLog(l.GetAccessLog(), false); err != nil {
		return nil, err
	}
	seen := map[string]string{}
	for i, fc := range l.GetFilterChains() {
		ch, err := compileChain(fc)
		if err != nil {
			return nil, fmt.Errorf("filter chain %d (%q): %w", i, fc.GetName(), err)
		}
		if err := claimServerNames(seen, ch); err != nil {
			return nil, err
		}
		c.chains = append(c.chains, ch)
	}
	if c.log != nil && len(c.chains) > 0 && c.chains[0].tls == nil {
		return nil, errors.New("a listener access log is implemented on TLS listeners only")
	}
	return c, checkChainMix(c, inspector)
}

// listenerFilters accepts only the tls_inspector, at most once.
func listenerFilters(fs []*listenerv3.ListenerFilter) (inspector bool, err error) {
	for _, f := range fs {
		if f.GetName() != tlsInspectorName || inspector {
			return false, fmt.Errorf("listener filter %q: only a single %s is implemented", f.GetName(), tlsInspectorName)
		}
		if err := isType(f.GetTypedConfig(), &tlsinspectorv3.TlsInspector{}); err != nil {
			return false, err
		}
		inspector = true
	}
	return inspector, nil
}

// claimServerNames refuses two chains with the same match, as Envoy does.
func claimServerNames(seen map[string]string, ch *chainCfg) error {
	names := ch.serverNames
	if len(names) == 0 {
		names = []string{""}
	}
	for _, n := range names {
		if other, dup := seen[n]; dup {
			return fmt.Errorf("filter chains %q and %q have the same match (server name %q)", other, ch.name, n)
		}
		seen[n] = ch.name
	}
	return nil
}

// checkChainMix requires one transport per listener: all TLS (with the
// tls_inspector when server names are matched), or a single plaintext
// chain without match.
func checkChainMix(c *listenerCfg, inspector bool) error {
	if len(c.chains) == 0 {
		return errors.New("listener has no filter chains")
	}
	c.tls = c.chains[0].tls != nil
	for _, ch := range c.chains {
		if (ch.tls != nil) != c.tls {
			return errors.New("mixing TLS and plaintext filter chains is not implemented")
		}
		if len(ch.serverNames) > 0 && !inspector {
			return fmt.Errorf("chain %q matches server names without %s", ch.name, tlsInspectorName)
		}
	}
	if !c.tls && (len(c.chains) != 1 || len(c.chains[0].serverNames) > 0) {
		return errors.New("a plaintext listener must have exactly one filter chain without a match")
	}
	return nil
}

// compileChain compiles a filter chain.
func compileChain(fc *listenerv3.FilterChain) (*chainCfg, error) {
	key, err := proto.MarshalOptions{Deterministic: true}.Marshal(fc)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	ch := &chainCfg{key: string(key), name: fc.GetName(), handshake: fc.GetTransportSocketConnectTimeout().AsDuration()}
	for _, n := range fc.GetFilterChainMatch().GetServerNames() {
		if err := checkServerName(n); err != nil {
			return nil, err
		}
		ch.serverNames = append(ch.serverNames, strings.ToLower(n))
	}
	if ts := fc.GetTransportSocket(); ts != nil {
		if ch.tls, err = compileDownstreamTLS(ts); err != nil {
			return nil, err
		}
	}
	if len(fc.GetFilters()) != 1 || fc.GetFilters()[0].GetName() != hcmName {
		return nil, fmt.Errorf("a filter chain must hold exactly one %s", hcmName)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := unpack(fc.GetFilters()[0].GetTypedConfig(), hcm); err != nil {
		return nil, err
	}
	if ch.hcm, err = compileHCM(hcm); err != nil {
		return nil, fmt.Errorf("%s: %w", hcmName, err)
	}
	return ch, nil
}

// checkServerName accepts an exact name or a "*.suffix" wildcard.
func checkServerName(n string) error {
	rest, wild := strings.CutPrefix(n, "*.")
	if rest == "" || strings.Contains(rest, "*") || (!wild && strings.HasPrefix(n, "*")) {
		return fmt.Errorf("server name %q is not implemented (exact or *.suffix only)", n)
	}
	return nil
}

// compileDownstreamTLS compiles a listener-side TLS transport socket.
func compileDownstreamTLS(ts *corev3.TransportSocket) (*downstreamTLS, error) {
	if ts.GetName() != tlsSocketName {
		return nil, fmt.Errorf("transport socket %q is not implemented", ts.GetName())
	}
	ctx := &tlsv3.DownstreamTlsContext{}
	if err := unpack(ts.GetTypedConfig(), ctx); err != nil {
		return nil, err
	}
	common := ctx.GetCommonTlsContext()
	if common.GetValidationContext() != nil {
		return nil, errors.New("a static validation_context on a listener is not implemented (use SDS)")
	}
	certs := common.GetTlsCertificateSdsSecretConfigs()
	if len(certs) != 1 {
		return nil, fmt.Errorf("exactly one tls_certificate_sds_secret_configs is implemented, got %d", len(certs))
	}
	d := &downstreamTLS{certSecret: certs[0].GetName(), require: ctx.GetRequireClientCertificate().GetValue(),
		alpn: common.GetAlpnProtocols(), minVersion: minVersion(common.GetTlsParams().GetTlsMinimumProtocolVersion())}
	if err := checkADS(certs[0].GetSdsConfig()); err != nil {
		return nil, fmt.Errorf("tls certificate secret %q: %w", d.certSecret, err)
	}
	if vc := common.GetValidationContextSdsSecretConfig(); vc != nil {
		d.vcSecret = vc.GetName()
		if err := checkADS(vc.GetSdsConfig()); err != nil {
			return nil, fmt.Errorf("validation context secret %q: %w", d.vcSecret, err)
		}
	}
	if d.require && d.vcSecret == "" {
		return nil, errors.New("require_client_certificate without a validation context is not implemented")
	}
	return d, nil
}

// minVersion maps Envoy's minimum TLS version (servers default to 1.2).
func minVersion(v tlsv3.TlsParameters_TlsProtocol) uint16 {
	switch v {
	case tlsv3.TlsParameters_TLSv1_0:
		return tls.VersionTLS10
	case tlsv3.TlsParameters_TLSv1_1:
		return tls.VersionTLS11
	case tlsv3.TlsParameters_TLSv1_3:
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// checkADS requires a config source that is the ADS stream.
func checkADS(cs *corev3.ConfigSource) error {
	if cs.GetAds() == nil || cs.GetResourceApiVersion() != corev3.ApiVersion_V3 {
		return errors.New("only an ADS config source with resource_api_version V3 is implemented")
	}
	return nil
}

// compileHCM requires the HCM settings mtlsgate emits: the stand-in
// implements exactly those.
func compileHCM(h *hcmv3.HttpConnectionManager) (*hcmCfg, error) {
	switch {
	case h.GetCodecType() != hcmv3.HttpConnectionManager_AUTO:
		return nil, errors.New("codec_type must be AUTO")
	case h.GetForwardClientCertDetails() != hcmv3.HttpConnectionManager_SANITIZE:
		return nil, errors.New("forward_client_cert_details must be SANITIZE")
	case !h.GetUseRemoteAddress().GetValue():
		return nil, errors.New("use_remote_address must be true (trusting x-forwarded-for is not implemented)")
	case !h.GetNormalizePath().GetValue() || !h.GetMergeSlashes() || !h.GetStripAnyHostPort():
		return nil, errors.New("normalize_path, merge_slashes and strip_any_host_port must be true")
	case h.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD:
		return nil, errors.New("path_with_escaped_slashes_action must be UNESCAPE_AND_FORWARD")
	case h.GetRds() == nil:
		return nil, errors.New("routes must come from RDS")
	}
	if err := checkADS(h.GetRds().GetConfigSource()); err != nil {
		return nil, fmt.Errorf("rds: %w", err)
	}
	c := &hcmCfg{routeName: h.GetRds().GetRouteConfigName(), limits: compileLimits(h)}
	var err error
	if c.log, err = compileAccessLog(h.GetAccessLog(), true); err != nil {
		return nil, err
	}
	return c, compileHTTPFilters(c, h.GetHttpFilters())
}

// compileHTTPFilters accepts an optional ext_authz followed by the router.
func compileHTTPFilters(c *hcmCfg, fs []*hcmv3.HttpFilter) error {
	for i, f := range fs {
		last := i == len(fs)-1
		switch {
		case f.GetName() == routerName && last:
			if err := isType(f.GetTypedConfig(), &routerv3.Router{}); err != nil {
				return err
			}
		case f.GetName() == extAuthzName && i == 0 && !last:
			ea := &extauthzv3.ExtAuthz{}
			if err := unpack(f.GetTypedConfig(), ea); err != nil {
				return err
			}
			var err error
			if c.authz, err = compileExtAuthz(ea); err != nil {
				return fmt.Errorf("%s: %w", extAuthzName, err)
			}
		default:
			return fmt.Errorf("http filter %d %q is not implemented here (an optional %s, then %s)", i, f.GetName(), extAuthzName, routerName)
		}
	}
	if len(fs) == 0 {
		return fmt.Errorf("no http filters: %s is required", routerName)
	}
	return nil
}

// compileExtAuthz compiles the ext_authz filter (gRPC, fail closed).
func compileExtAuthz(ea *extauthzv3.ExtAuthz) (*authzCfg, error) {
	gs := ea.GetGrpcService()
	if gs.GetEnvoyGrpc().GetClusterName() == "" {
		return nil, errors.New("only grpc_service.envoy_grpc is implemented")
	}
	if ea.GetTransportApiVersion() != corev3.ApiVersion_V3 || ea.GetFailureModeAllow() {
		return nil, errors.New("transport_api_version must be V3 and failure_mode_allow false")
	}
	c := &authzCfg{cluster: gs.GetEnvoyGrpc().GetClusterName(), timeout: 200 * time.Millisecond,
		includeCert: ea.GetIncludePeerCertificate(), includeTLS: ea.GetIncludeTlsSession(), statusOnError: 403}
	if gs.GetTimeout() != nil {
		c.timeout = gs.GetTimeout().AsDuration()
	}
	if code := ea.GetStatusOnError().GetCode(); code != 0 {
		c.statusOnError = int(code)
	}
	return c, nil
}

// isType checks that a typed config holds m's type.
func isType(a *anypb.Any, m proto.Message) error {
	return unpack(a, m)
}

// unpack decodes a typed config into m, refusing another type.
func unpack(a *anypb.Any, m proto.Message) error {
	if a == nil {
		return fmt.Errorf("missing typed_config (%s)", m.ProtoReflect().Descriptor().FullName())
	}
	if err := a.UnmarshalTo(m); err != nil {
		return fmt.Errorf("typed_config %s: %w", a.GetTypeUrl(), err)
	}
	return nil
}
