package standin

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	// The typed configs the stand-in unpacks from Any must be registered.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// anyValue allows every value of a field.
var anyValue []string

// Package prefixes, for readability.
const (
	core     = "envoy.config.core.v3."
	lis      = "envoy.config.listener.v3."
	rte      = "envoy.config.route.v3."
	clu      = "envoy.config.cluster.v3."
	ep       = "envoy.config.endpoint.v3."
	tlsPkg   = "envoy.extensions.transport_sockets.tls.v3."
	hcmPkg   = "envoy.extensions.filters.network.http_connection_manager.v3."
	authzPkg = "envoy.extensions.filters.http.ext_authz.v3."
	disc     = "envoy.service.discovery.v3."
	boot     = "envoy.config.bootstrap.v3."
	alog     = "envoy.config.accesslog.v3."
	grpcALS  = "envoy.extensions.access_loggers.grpc.v3."
	overload = "envoy.config.overload.v3."
)

// configFields is every message type and field the stand-in implements in
// LDS, RDS, CDS and SDS resources, with the values it implements where
// not all are. Presence rules (a field that must be set to a value) are
// checked when the resource is compiled.
var configFields = allowlist{
	// Listeners.
	lis + "Listener": {"name": anyValue, "address": anyValue, "filter_chains": anyValue, "listener_filters": anyValue,
		"per_connection_buffer_limit_bytes": anyValue, "access_log": anyValue},
	core + "Address":       {"socket_address": anyValue},
	core + "SocketAddress": {"address": anyValue, "port_value": anyValue},
	lis + "ListenerFilter": {"name": anyValue, "typed_config": anyValue},
	"envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector": {},
	lis + "FilterChain": {"name": anyValue, "filter_chain_match": anyValue, "transport_socket": anyValue, "filters": anyValue,
		"transport_socket_connect_timeout": anyValue},
	lis + "FilterChainMatch": {"server_names": anyValue},
	lis + "Filter":           {"name": anyValue, "typed_config": anyValue},
	core + "TransportSocket": {"name": anyValue, "typed_config": anyValue},

	// TLS.
	tlsPkg + "DownstreamTlsContext": {"common_tls_context": anyValue, "require_client_certificate": anyValue},
	tlsPkg + "UpstreamTlsContext":   {"common_tls_context": anyValue, "sni": anyValue},
	tlsPkg + "CommonTlsContext": {"tls_params": anyValue, "tls_certificate_sds_secret_configs": anyValue,
		"alpn_protocols": anyValue, "validation_context_sds_secret_config": anyValue, "validation_context": anyValue},
	tlsPkg + "TlsParameters":        {"tls_minimum_protocol_version": {"TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"}},
	tlsPkg + "SdsSecretConfig":      {"name": anyValue, "sds_config": anyValue},
	core + "ConfigSource":           {"ads": anyValue, "resource_api_version": {"V3"}},
	core + "AggregatedConfigSource": {},
	tlsPkg + "Secret":               {"name": anyValue, "tls_certificate": anyValue, "validation_context": anyValue},
	tlsPkg + "TlsCertificate":       {"certificate_chain": anyValue, "private_key": anyValue},
	tlsPkg + "CertificateValidationContext": {"trusted_ca": anyValue, "match_typed_subject_alt_names": anyValue,
		"trust_chain_verification": {"ACCEPT_UNTRUSTED"}, "crl": anyValue, "only_verify_leaf_cert_crl": anyValue},
	tlsPkg + "SubjectAltNameMatcher":      {"san_type": {"DNS", "IP_ADDRESS"}, "matcher": anyValue},
	"envoy.type.matcher.v3.StringMatcher": {"exact": anyValue},
	core + "DataSource":                   {"filename": anyValue, "inline_string": anyValue},

	// HTTP connection manager and HTTP filters.
	hcmPkg + "Rds":        {"config_source": anyValue, "route_config_name": anyValue},
	hcmPkg + "HttpFilter": {"name": anyValue, "typed_config": anyValue},
	"envoy.extensions.filters.http.router.v3.Router": {},
	authzPkg + "ExtAuthz": {"grpc_service": anyValue, "transport_api_version": {"V3"}, "failure_mode_allow": {"false"},
		"include_peer_certificate": anyValue, "include_tls_session": anyValue, "status_on_error": anyValue},
	core + "GrpcService":           {"envoy_grpc": anyValue, "timeout": anyValue},
	core + "GrpcService.EnvoyGrpc": {"cluster_name": anyValue},
	"envoy.type.v3.HttpStatus":     {"code": anyValue},
	authzPkg + "ExtAuthzPerRoute":  {"check_settings": anyValue, "disabled": {"true"}},
	authzPkg + "CheckSettings":     {"context_extensions": anyValue},

	// Connection managers: limits, timeouts and access logs (see
	// compile_hardening.go for what each does here).
	hcmPkg + "HttpConnectionManager": {"stat_prefix": anyValue, "codec_type": {"AUTO"}, "rds": anyValue,
		"http_filters": anyValue, "forward_client_cert_details": {"SANITIZE"}, "use_remote_address": anyValue,
		"normalize_path": anyValue, "merge_slashes": {"true"}, "path_with_escaped_slashes_action": {"UNESCAPE_AND_FORWARD"},
		"strip_any_host_port": {"true"}, "max_request_headers_kb": anyValue, "request_headers_timeout": anyValue,
		"request_timeout": anyValue, "stream_idle_timeout": anyValue, "common_http_protocol_options": anyValue,
		"http2_protocol_options": anyValue, "access_log": anyValue},
	core + "HttpProtocolOptions": {"idle_timeout": anyValue, "max_headers_count": anyValue,
		"headers_with_underscores_action": {"DROP_HEADER"}},
	core + "Http2ProtocolOptions": {"max_concurrent_streams": anyValue, "initial_stream_window_size": anyValue,
		"initial_connection_window_size": anyValue},
	alog + "AccessLog":                    {"name": anyValue, "filter": anyValue, "typed_config": anyValue},
	alog + "AccessLogFilter":              {"or_filter": anyValue, "status_code_filter": anyValue, "response_flag_filter": anyValue},
	alog + "OrFilter":                     {"filters": anyValue},
	alog + "StatusCodeFilter":             {"comparison": anyValue},
	alog + "ComparisonFilter":             {"op": {"GE"}, "value": anyValue},
	core + "RuntimeUInt32":                {"default_value": anyValue, "runtime_key": anyValue},
	alog + "ResponseFlagFilter":           {},
	grpcALS + "HttpGrpcAccessLogConfig":   {"common_config": anyValue},
	grpcALS + "TcpGrpcAccessLogConfig":    {"common_config": anyValue},
	grpcALS + "CommonGrpcAccessLogConfig": {"log_name": anyValue, "grpc_service": anyValue, "transport_api_version": {"V3"}},
	"google.protobuf.UInt32Value":         {"value": anyValue},

	// Routes.
	rte + "RouteConfiguration": {"name": anyValue, "virtual_hosts": anyValue},
	rte + "VirtualHost":        {"name": anyValue, "domains": anyValue, "routes": anyValue, "request_headers_to_remove": anyValue},
	rte + "Route": {"match": anyValue, "route": anyValue, "redirect": anyValue, "direct_response": anyValue,
		"typed_per_filter_config": anyValue},
	rte + "RouteMatch":           {"prefix": anyValue},
	rte + "RouteAction":          {"cluster": anyValue},
	rte + "RedirectAction":       {"https_redirect": {"true"}, "port_redirect": anyValue},
	rte + "DirectResponseAction": {"status": anyValue},

	// Clusters.
	clu + "Cluster": {"name": anyValue, "connect_timeout": anyValue, "type": {"STATIC", "STRICT_DNS"},
		"dns_lookup_family": {"V4_PREFERRED"}, "load_assignment": anyValue, "transport_socket": anyValue,
		"typed_extension_protocol_options": anyValue, "per_connection_buffer_limit_bytes": anyValue},
	ep + "ClusterLoadAssignment": {"cluster_name": anyValue, "endpoints": anyValue},
	ep + "LocalityLbEndpoints":   {"lb_endpoints": anyValue},
	ep + "LbEndpoint":            {"endpoint": anyValue},
	ep + "Endpoint":              {"address": anyValue},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions":                    {"explicit_http_config": anyValue},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig": {"http2_protocol_options": anyValue},

	// Well-known types.
	"google.protobuf.Duration":  {"seconds": anyValue, "nanos": anyValue},
	"google.protobuf.BoolValue": {"value": anyValue},
}

// envelopeFields are the xDS response envelopes; their resources are
// decoded and checked one by one.
var envelopeFields = allowlist{
	disc + "DiscoveryResponse": {"version_info": anyValue, "resources": anyValue, "type_url": anyValue,
		"nonce": anyValue, "control_plane": anyValue},
	disc + "DeltaDiscoveryResponse": {"system_version_info": anyValue, "resources": anyValue, "type_url": anyValue,
		"removed_resources": anyValue, "nonce": anyValue, "control_plane": anyValue},
	disc + "Resource":     {"name": anyValue, "version": anyValue, "resource": anyValue},
	core + "ControlPlane": {"identifier": anyValue},
}

var envelopeOpaque = map[protoreflect.FullName]bool{
	disc + "DiscoveryResponse.resources": true,
	disc + "Resource.resource":           true,
}

// checkResponseFields is what the stand-in implements of ext_authz
// answers; anything else in a CheckResponse is a runtime violation.
var checkResponseFields = allowlist{
	"envoy.service.auth.v3.CheckResponse":      {"status": anyValue, "denied_response": anyValue, "ok_response": anyValue},
	"google.rpc.Status":                        {"code": anyValue, "message": anyValue},
	"envoy.service.auth.v3.OkHttpResponse":     {"headers": anyValue, "headers_to_remove": anyValue},
	"envoy.service.auth.v3.DeniedHttpResponse": {"status": anyValue, "headers": anyValue, "body": anyValue},
	"envoy.type.v3.HttpStatus":                 {"code": anyValue},
	core + "HeaderValueOption":                 {"header": anyValue, "append_action": anyValue},
	core + "HeaderValue":                       {"key": anyValue, "value": anyValue},
}

// bootstrapFields is every message type and field the stand-in
// implements in a bootstrap (Options.Bootstrap): exactly what
// mtlsgate envoy bootstrap writes. Envoy's admin interface is accepted
// but not served.
var bootstrapFields = allowlist{
	boot + "Bootstrap": {"node": anyValue, "static_resources": anyValue, "dynamic_resources": anyValue, "admin": anyValue,
		"overload_manager": anyValue},
	// Overload: the downstream connection bound only (not a heap monitor,
	// which means nothing for a Go process).
	overload + "OverloadManager": {"refresh_interval": anyValue, "resource_monitors": anyValue},
	overload + "ResourceMonitor": {"name": {connectionsMonitor}, "typed_config": anyValue},
	"envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig": {"max_active_downstream_connections": anyValue},
	core + "Node":                       {"id": anyValue, "cluster": anyValue},
	boot + "Bootstrap.StaticResources":  {"clusters": anyValue},
	boot + "Bootstrap.DynamicResources": {"lds_config": anyValue, "cds_config": anyValue, "ads_config": anyValue},
	boot + "Admin":                      {"address": anyValue, "ignore_global_conn_limit": anyValue},
	core + "Address":                    {"socket_address": anyValue},
	core + "SocketAddress":              {"address": anyValue, "port_value": anyValue},
	core + "ConfigSource":               {"ads": anyValue, "path_config_source": anyValue, "resource_api_version": {"V3"}},
	core + "AggregatedConfigSource":     {},
	core + "PathConfigSource":           {"path": anyValue, "watched_directory": anyValue},
	core + "WatchedDirectory":           {"path": anyValue},
	core + "ApiConfigSource": {"api_type": {"GRPC", "DELTA_GRPC"}, "transport_api_version": {"V3"},
		"grpc_services": anyValue, "set_node_on_first_message_only": anyValue},
	core + "GrpcService":           {"envoy_grpc": anyValue},
	core + "GrpcService.EnvoyGrpc": {"cluster_name": anyValue},

	clu + "Cluster": {"name": anyValue, "connect_timeout": anyValue, "type": {"STATIC", "STRICT_DNS"},
		"dns_lookup_family": {"V4_PREFERRED"}, "load_assignment": anyValue, "transport_socket": anyValue,
		"typed_extension_protocol_options": anyValue, "health_checks": anyValue, "common_lb_config": anyValue},
	clu + "Cluster.CommonLbConfig": {"healthy_panic_threshold": anyValue},
	"envoy.type.v3.Percent":        {"value": {"0"}},
	core + "HealthCheck": {"timeout": anyValue, "interval": anyValue, "no_traffic_interval": anyValue,
		"unhealthy_threshold": anyValue, "healthy_threshold": anyValue, "grpc_health_check": anyValue},
	core + "HealthCheck.GrpcHealthCheck":                     {"service_name": anyValue},
	"google.protobuf.UInt32Value":                            {"value": anyValue},
	ep + "ClusterLoadAssignment":                             {"cluster_name": anyValue, "endpoints": anyValue},
	ep + "LocalityLbEndpoints":                               {"lb_endpoints": anyValue},
	ep + "LbEndpoint":                                        {"endpoint": anyValue},
	ep + "Endpoint":                                          {"address": anyValue},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {"explicit_http_config": anyValue},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig": {"http2_protocol_options": anyValue},
	core + "Http2ProtocolOptions": {"connection_keepalive": anyValue},
	core + "KeepaliveSettings":    {"interval": anyValue, "timeout": anyValue},
	core + "TransportSocket":      {"name": anyValue, "typed_config": anyValue},
	tlsPkg + "UpstreamTlsContext": {"common_tls_context": anyValue},
	tlsPkg + "CommonTlsContext": {"alpn_protocols": anyValue, "tls_certificate_sds_secret_configs": anyValue,
		"validation_context_sds_secret_config": anyValue},
	tlsPkg + "SdsSecretConfig": {"name": anyValue, "sds_config": anyValue},

	"google.protobuf.Duration": {"seconds": anyValue, "nanos": anyValue},
}

// sdsFileFields is what the stand-in implements in the files of
// path-based SDS sources: one secret, a client certificate or a
// validation context, with file data sources.
var sdsFileFields = allowlist{
	disc + "DiscoveryResponse": {"resources": anyValue},
	tlsPkg + "Secret":          {"name": anyValue, "tls_certificate": anyValue, "validation_context": anyValue},
	tlsPkg + "TlsCertificate":  {"certificate_chain": anyValue, "private_key": anyValue, "watched_directory": anyValue},
	tlsPkg + "CertificateValidationContext": {"trusted_ca": anyValue, "match_typed_subject_alt_names": anyValue,
		"watched_directory": anyValue},
	tlsPkg + "SubjectAltNameMatcher":      {"san_type": {"DNS", "IP_ADDRESS", "URI"}, "matcher": anyValue},
	"envoy.type.matcher.v3.StringMatcher": {"exact": anyValue},
	core + "DataSource":                   {"filename": anyValue},
	core + "WatchedDirectory":             {"path": anyValue},
}

var (
	bootstrapWalker = walker{allow: bootstrapFields}
	sdsFileWalker   = walker{allow: sdsFileFields}
	configWalker    = walker{allow: configFields}
	envelopeWalker  = walker{allow: envelopeFields, opaque: envelopeOpaque}
	checkWalker     = walker{allow: checkResponseFields}
)
