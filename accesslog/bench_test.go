package accesslog

import (
	"context"
	"io"
	"log/slog"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BenchmarkBatch handles one message of 100 entries as Envoy sends them,
// counted and logged as serve does (JSON lines, written nowhere).
func BenchmarkBatch(b *testing.B) {
	sites := map[string]string{"www.example.com": "www.example.com", "a.apps.example.com": "*.apps.example.com"}
	s := New(Options{SiteOf: func(h string) string { return sites[h] }, Metrics: NewMetrics(prometheus.NewRegistry(), nil),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	st := &stream{logName: "bench", node: "edge-1"}
	addr := &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}}}}
	reasons := []string{"", "", "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end",
		"TLS_error:|268435646:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE:TLS_error_end"}
	hosts := []string{"www.example.com", "a.apps.example.com", "nope.example.org"}
	var tcp []*datav3.TCPAccessLogEntry
	var http []*datav3.HTTPAccessLogEntry
	for i := range 100 {
		tcp = append(tcp, &datav3.TCPAccessLogEntry{CommonProperties: &datav3.AccessLogCommon{DownstreamRemoteAddress: addr,
			DownstreamTransportFailureReason: reasons[i%len(reasons)],
			TlsProperties:                    &datav3.TLSProperties{TlsSniHostname: hosts[i%len(hosts)]}}})
		http = append(http, &datav3.HTTPAccessLogEntry{
			CommonProperties: &datav3.AccessLogCommon{DownstreamRemoteAddress: addr, AccessLogType: datav3.AccessLogType_DownstreamEnd,
				TlsProperties: &datav3.TLSProperties{TlsSniHostname: hosts[i%len(hosts)]},
				ResponseFlags: &datav3.ResponseFlags{UpstreamConnectionFailure: i%2 == 0}},
			Request: &datav3.HTTPRequestProperties{Authority: hosts[i%len(hosts)], Path: "/api/v1/items?page=2",
				RequestId: "9de07a8b-23d1-4400-a583-2185cac860ee"},
			Response: &datav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(uint32(403 + i%2*100)), ResponseCodeDetails: "ext_authz_denied"}})
	}
	for _, c := range []struct {
		name string
		msg  *alsv3.StreamAccessLogsMessage
	}{
		{"connections", &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{LogEntry: tcp}}}},
		{"requests", &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: http}}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.handle(context.Background(), st, c.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
