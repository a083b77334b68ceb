package standin

import (
	"errors"
	"fmt"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	grpcalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	connsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
)

// Names of the access loggers and the resource monitor implemented.
const (
	httpGRPCLogger     = "envoy.access_loggers.http_grpc"
	tcpGRPCLogger      = "envoy.access_loggers.tcp_grpc"
	connectionsMonitor = "envoy.resource_monitors.global_downstream_max_connections"
)

// minBufferLimit is the least per_connection_buffer_limit_bytes accepted:
// the stand-in's reads and writes are smaller than a TLS record (16 KiB)
// anyway, so any bound from there up holds without further work.
const minBufferLimit = 16 << 10

// limitsCfg is what the stand-in implements of a connection manager's
// limits and timeouts; zero values are unset (the stand-in's defaults).
type limitsCfg struct {
	headerBytes     int  // max_request_headers_kb: http.Server.MaxHeaderBytes
	maxHeaders      int  // max_headers_count: more answers 431
	dropUnderscores bool // headers_with_underscores_action DROP_HEADER
	headersTimeout  time.Duration
	requestTimeout  time.Duration // reading the whole request
	streamIdle      time.Duration // no upstream bytes for this long ends the stream
	idle            time.Duration // a connection without streams
	h2Streams       uint32
	h2StreamWindow  int32
	h2ConnWindow    int32
}

// compileLimits reads the limits of h (fields already allowed).
func compileLimits(h *hcmv3.HttpConnectionManager) limitsCfg {
	l := limitsCfg{
		headerBytes:     int(h.GetMaxRequestHeadersKb().GetValue()) << 10,
		maxHeaders:      int(h.GetCommonHttpProtocolOptions().GetMaxHeadersCount().GetValue()),
		dropUnderscores: h.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction() == corev3.HttpProtocolOptions_DROP_HEADER,
		headersTimeout:  h.GetRequestHeadersTimeout().AsDuration(),
		requestTimeout:  h.GetRequestTimeout().AsDuration(),
		streamIdle:      h.GetStreamIdleTimeout().AsDuration(),
		idle:            h.GetCommonHttpProtocolOptions().GetIdleTimeout().AsDuration(),
		h2Streams:       h.GetHttp2ProtocolOptions().GetMaxConcurrentStreams().GetValue(),
		h2StreamWindow:  int32(h.GetHttp2ProtocolOptions().GetInitialStreamWindowSize().GetValue()),
		h2ConnWindow:    int32(h.GetHttp2ProtocolOptions().GetInitialConnectionWindowSize().GetValue()),
	}
	return l
}

// alsCfg is a compiled gRPC access log: where to stream it, and for HTTP
// which requests to log.
type alsCfg struct {
	cluster, logName string
	// minStatus: log requests with this status or above, or with a
	// response flag (the or_filter mtlsgate writes). TCP logs log every
	// connection.
	minStatus int
}

// compileAccessLog accepts no log, or one gRPC access log: for HTTP
// (http_grpc) with the failed-requests filter, for a listener (tcp_grpc)
// without a filter.
func compileAccessLog(logs []*accesslogv3.AccessLog, http bool) (*alsCfg, error) {
	switch {
	case len(logs) == 0:
		return nil, nil
	case len(logs) > 1:
		return nil, errors.New("one access log at most is implemented")
	}
	l := logs[0]
	var common *grpcalsv3.CommonGrpcAccessLogConfig
	c := &alsCfg{}
	if http {
		cfg := &grpcalsv3.HttpGrpcAccessLogConfig{}
		if l.GetName() != httpGRPCLogger {
			return nil, fmt.Errorf("access log %q: only %s is implemented here", l.GetName(), httpGRPCLogger)
		}
		if err := unpack(l.GetTypedConfig(), cfg); err != nil {
			return nil, err
		}
		common = cfg.GetCommonConfig()
		var err error
		if c.minStatus, err = failedRequests(l.GetFilter()); err != nil {
			return nil, err
		}
	} else {
		cfg := &grpcalsv3.TcpGrpcAccessLogConfig{}
		if l.GetName() != tcpGRPCLogger || l.GetFilter() != nil {
			return nil, fmt.Errorf("access log %q: only %s without a filter is implemented on listeners", l.GetName(), tcpGRPCLogger)
		}
		if err := unpack(l.GetTypedConfig(), cfg); err != nil {
			return nil, err
		}
		common = cfg.GetCommonConfig()
	}
	c.cluster, c.logName = common.GetGrpcService().GetEnvoyGrpc().GetClusterName(), common.GetLogName()
	if c.cluster == "" || c.logName == "" || common.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		return nil, errors.New("a gRPC access log needs log_name, grpc_service.envoy_grpc and transport_api_version V3")
	}
	return c, nil
}

// failedRequests reads the only filter implemented: status >= N (its
// runtime default; the stand-in has no runtime) or any response flag.
func failedRequests(f *accesslogv3.AccessLogFilter) (int, error) {
	or := f.GetOrFilter().GetFilters()
	bad := errors.New("only the filter or(status_code_filter GE n, response_flag_filter{}) is implemented")
	if len(or) != 2 || or[1].GetResponseFlagFilter() == nil || len(or[1].GetResponseFlagFilter().GetFlags()) > 0 {
		return 0, bad
	}
	cmp := or[0].GetStatusCodeFilter().GetComparison()
	if cmp == nil || cmp.GetOp() != accesslogv3.ComparisonFilter_GE {
		return 0, bad
	}
	return int(cmp.GetValue().GetDefaultValue()), nil
}

// compileOverload reads the bootstrap's connection bound (0: none).
func compileOverload(b *bootstrapv3.Bootstrap) (int64, error) {
	om := b.GetOverloadManager()
	if om == nil {
		return 0, nil
	}
	if len(om.GetResourceMonitors()) != 1 {
		return 0, fmt.Errorf("overload_manager: only the %s monitor is implemented", connectionsMonitor)
	}
	cfg := &connsv3.DownstreamConnectionsConfig{}
	if err := unpack(om.GetResourceMonitors()[0].GetTypedConfig(), cfg); err != nil {
		return 0, fmt.Errorf("overload_manager: %w", err)
	}
	return cfg.GetMaxActiveDownstreamConnections(), nil
}
