package server_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/nodeid"
)

// TestAccessLogOnTheXDSChannel: serve takes Envoy's access logs on the xDS
// address from a node, whose entries reach the decision log, and refuses
// a stream that names another node than its certificate.
func TestAccessLogOnTheXDSChannel(t *testing.T) {
	r := start(t, nil)
	node := r.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"})
	creds := credentials.NewTLS(&tls.Config{RootCAs: r.pool, ServerName: "localhost", Certificates: []tls.Certificate{node}})
	reason := "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end"
	stream := func(nodeID string) error {
		conn, err := grpc.NewClient("passthrough:///"+r.XDSAddr(), grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := alsv3.NewAccessLogServiceClient(conn).StreamAccessLogs(ctx)
		if err != nil {
			return err
		}
		_ = s.Send(&alsv3.StreamAccessLogsMessage{
			Identifier: &alsv3.StreamAccessLogsMessage_Identifier{LogName: contract.AccessLogConnections,
				Node: &corev3.Node{Id: nodeID, Cluster: "default"}},
			LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{
				LogEntry: []*datav3.TCPAccessLogEntry{{CommonProperties: &datav3.AccessLogCommon{
					DownstreamTransportFailureReason: reason,
					TlsProperties:                    &datav3.TLSProperties{TlsSniHostname: "nope.example.com"}}}}}},
		})
		_, err = s.CloseAndRecv()
		return err
	}
	// The node's record reaches the policy with the next State.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := stream("edge-1")
		if err == nil {
			break
		}
		if status.Code(err) != codes.PermissionDenied || time.Now().After(deadline) {
			t.Fatalf("the node's stream: %v", err)
		}
	}
	if logs := r.logs.String(); !strings.Contains(logs, `"msg":"envoy connection","node":"edge-1","site":"unknown","sni":"nope.example.com"`) ||
		!strings.Contains(logs, `"result":"bad_client_certificate"`) {
		t.Errorf("no connection line in the decision log:\n%s", logs)
	}
	if err := stream("edge-2"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a stream naming another node: %v, want PermissionDenied", err)
	}
}
