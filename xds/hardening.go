package xds

import (
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	grpcalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/envoy"
)

// Limits and timeouts of the downstream side, in the spirit of Envoy's
// edge-proxy guidance: what an untrusted client can hold open or make
// Envoy buffer is bounded.
const (
	// bufferLimit bounds what Envoy buffers per connection, downstream
	// and upstream (its default is 1 MiB).
	bufferLimit = 32 << 10
	// maxRequestHeadersKB is Envoy's default, said out loud: an XFCC
	// element with a chain, forwarded by a gateway in front, must fit.
	maxRequestHeadersKB = 60
	// maxHeaders bounds the request headers a client may send.
	maxHeaders = 100
	// http2Streams is the concurrent streams a client connection may open.
	http2Streams = 100
	// The HTTP/2 flow-control windows (Envoy's defaults are 256 MiB).
	http2StreamWindow     = 64 << 10
	http2ConnectionWindow = 1 << 20
)

// Timeouts of a downstream connection and its requests. There is no
// request_timeout: it would cut uploads and client-streaming gRPC longer
// than it, and the idle timeouts already end a stalled request.
var (
	handshakeTimeout      = 10 * time.Second // TCP accepted to TLS done (transport_socket_connect_timeout)
	requestHeadersTimeout = 10 * time.Second // all headers, from the first byte
	streamIdleTimeout     = 5 * time.Minute  // no bytes either way on a stream
	// connectionIdleTimeout ends a connection without streams. Short:
	// with the overload manager's connection bound, idle connections
	// hold slots other clients need.
	connectionIdleTimeout = 5 * time.Minute
)

// accessLogStatus is the least status an access-logged request has,
// unless Envoy set a response flag (runtime key accessLogStatusKey).
const (
	accessLogStatus    = 400
	accessLogStatusKey = "mtlsgate.access_log.min_status"
)

// harden sets the limits, timeouts and access log of an HTTP connection
// manager. Underscored request headers are dropped: some origins (CGI,
// WSGI) read x_client_cert_verify as x-client-cert-verify, which would
// let a client smuggle a value past the origin headers mtlsgate owns.
func harden(h *hcmv3.HttpConnectionManager, log *accesslogv3.AccessLog) {
	h.MaxRequestHeadersKb = wrapperspb.UInt32(maxRequestHeadersKB)
	h.RequestHeadersTimeout = durationpb.New(requestHeadersTimeout)
	h.StreamIdleTimeout = durationpb.New(streamIdleTimeout)
	h.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{
		IdleTimeout:                  durationpb.New(connectionIdleTimeout),
		MaxHeadersCount:              wrapperspb.UInt32(maxHeaders),
		HeadersWithUnderscoresAction: corev3.HttpProtocolOptions_DROP_HEADER,
	}
	h.Http2ProtocolOptions = &corev3.Http2ProtocolOptions{
		MaxConcurrentStreams:        wrapperspb.UInt32(http2Streams),
		InitialStreamWindowSize:     wrapperspb.UInt32(http2StreamWindow),
		InitialConnectionWindowSize: wrapperspb.UInt32(http2ConnectionWindow),
	}
	h.AccessLog = []*accesslogv3.AccessLog{log}
}

// accessLogs are the gRPC access logs mtlsgate's Envoys stream to the
// control plane (its cluster, its TLS, the node's certificate): failed
// requests from every connection manager, and every connection of the
// HTTPS listener, which carries the reason of a failed TLS handshake.
type accessLogs struct {
	requests, connections *accesslogv3.AccessLog
}

func newAccessLogs() (*accessLogs, error) {
	httpCfg, err := typed(&grpcalsv3.HttpGrpcAccessLogConfig{CommonConfig: alsCommon(contract.AccessLogHTTP)})
	if err != nil {
		return nil, err
	}
	tcpCfg, err := typed(&grpcalsv3.TcpGrpcAccessLogConfig{CommonConfig: alsCommon(contract.AccessLogConnections)})
	if err != nil {
		return nil, err
	}
	failed := &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_OrFilter{OrFilter: &accesslogv3.OrFilter{
		Filters: []*accesslogv3.AccessLogFilter{
			{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{StatusCodeFilter: &accesslogv3.StatusCodeFilter{
				Comparison: &accesslogv3.ComparisonFilter{Op: accesslogv3.ComparisonFilter_GE,
					Value: &corev3.RuntimeUInt32{DefaultValue: accessLogStatus, RuntimeKey: accessLogStatusKey}},
			}}},
			{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{}}},
		},
	}}}
	return &accessLogs{
		requests:    &accesslogv3.AccessLog{Name: httpGRPCLoggerName, Filter: failed, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: httpCfg}},
		connections: &accesslogv3.AccessLog{Name: tcpGRPCLoggerName, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: tcpCfg}},
	}, nil
}

// alsCommon is the common configuration of a gRPC access log named name.
func alsCommon(name string) *grpcalsv3.CommonGrpcAccessLogConfig {
	return &grpcalsv3.CommonGrpcAccessLogConfig{
		LogName: name,
		GrpcService: &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
			EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: envoy.XDSClusterName}}},
		TransportApiVersion: corev3.ApiVersion_V3,
	}
}
