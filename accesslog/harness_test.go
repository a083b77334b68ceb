package accesslog_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mtlsgate/mtlsgate/accesslog"
	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// harness is an access log server as serve wires it: on a TLS gRPC
// server asking for node certificates, admitting streams and naming sites
// through a real ext_authz Service that follows a real store.
type harness struct {
	pki     *nodetest.PKI
	store   *store.Store
	authz   *authz.Service
	metrics *prometheus.Registry
	logs    *logBuffer
	addr    string
}

type harnessOpts struct {
	// clientAuth is how the server asks for client certificates
	// (default: tls.RequireAndVerifyClientCert).
	clientAuth tls.ClientAuthType
	// plaintext serves without TLS and requires no node identities.
	plaintext   bool
	decisionLog accesslog.DecisionLog
}

// Sites of every harness: an exact name and a wildcard.
const (
	siteWWW  = "www.example.com"
	siteApps = "*.apps.example.com"
)

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	h := &harness{pki: nodetest.NewPKI(t), store: nodetest.Store(t), metrics: prometheus.NewRegistry(), logs: &logBuffer{}}
	nodetest.Site(t, h.store, siteWWW, pb.Mode_MODE_ENFORCE)
	nodetest.Site(t, h.store, siteApps, pb.Mode_MODE_DISABLED)
	h.authz = authz.New(authz.Options{RequireNodeIdentity: !o.plaintext})
	h.reload()
	srv := accesslog.New(accesslog.Options{
		Admit: h.authz.Admit, SiteOf: h.authz.SiteOf, DecisionLog: o.decisionLog,
		Logger:  slog.New(slog.NewJSONHandler(h.logs, nil)),
		Metrics: accesslog.NewMetrics(h.metrics, h.authz.HasSite),
	})
	if o.clientAuth == tls.NoClientCert {
		o.clientAuth = tls.RequireAndVerifyClientCert
	}
	creds := h.pki.ServerCreds(o.clientAuth)
	if o.plaintext {
		creds = insecure.NewCredentials()
	}
	g := grpc.NewServer(grpc.Creds(creds))
	srv.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(ln) }()
	t.Cleanup(func() { g.Stop(); <-done })
	h.addr = ln.Addr().String()
	return h
}

// reload compiles the store's State into the ext_authz policy, as the
// server's follower does.
func (h *harness) reload() { h.authz.Load(model.Compile(h.store.Current(), nil)) }

// node issues and records a node certificate, and reloads.
func (h *harness) node(t *testing.T, fleet, id string) *testpki.Cert {
	t.Helper()
	c := h.pki.Node(t, fleet, id)
	nodetest.Record(t, h.store, c)
	h.reload()
	return c
}

// send opens a stream with creds, sends msgs, closes its side and returns
// the stream's end.
func (h *harness) send(t *testing.T, creds credentials.TransportCredentials, msgs ...*alsv3.StreamAccessLogsMessage) error {
	t.Helper()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := alsv3.NewAccessLogServiceClient(conn).StreamAccessLogs(ctx)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := s.Send(m); err != nil {
			break // the server ended the stream: CloseAndRecv says why
		}
	}
	_, err = s.CloseAndRecv()
	return err
}

// open opens a stream with creds; done closes it.
func (h *harness) open(t *testing.T, creds credentials.TransportCredentials) (alsv3.AccessLogService_StreamAccessLogsClient, func()) {
	t.Helper()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	s, err := alsv3.NewAccessLogServiceClient(conn).StreamAccessLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s, func() { cancel(); conn.Close() }
}

// waitFor waits until cond holds, for at most 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Messages as Envoy's gRPC access logger sends them: the identifier with
// the first batch only.

func ident(fleet, node, logName string) *alsv3.StreamAccessLogsMessage_Identifier {
	return &alsv3.StreamAccessLogsMessage_Identifier{LogName: logName,
		Node: &corev3.Node{Id: node, Cluster: fleet, UserAgentName: "envoy"}}
}

func tcpBatch(id *alsv3.StreamAccessLogsMessage_Identifier, entries ...*datav3.TCPAccessLogEntry) *alsv3.StreamAccessLogsMessage {
	return &alsv3.StreamAccessLogsMessage{Identifier: id, LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{
		TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{LogEntry: entries}}}
}

func httpBatch(id *alsv3.StreamAccessLogsMessage_Identifier, entries ...*datav3.HTTPAccessLogEntry) *alsv3.StreamAccessLogsMessage {
	return &alsv3.StreamAccessLogsMessage{Identifier: id, LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries}}}
}

func sockAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

// conn is the listener's entry for a connection from peer with sni whose
// handshake failed for reason ("" when it did not).
func conn(peer string, sni, reason string) *datav3.TCPAccessLogEntry {
	c := &datav3.AccessLogCommon{
		DownstreamRemoteAddress: sockAddr(peer, 51234), DownstreamLocalAddress: sockAddr("10.0.0.5", 8443),
		DownstreamTransportFailureReason: reason, AccessLogType: datav3.AccessLogType_NotSet,
	}
	if sni != "" {
		c.TlsProperties = &datav3.TLSProperties{TlsSniHostname: sni}
		if reason == "" {
			c.TlsProperties.TlsVersion = datav3.TLSProperties_TLSv1_3
		}
	}
	return &datav3.TCPAccessLogEntry{CommonProperties: c}
}

// req is an HTTP connection manager's entry for a request.
func req(sni, authority, path, id string, status uint32, details string, flags *datav3.ResponseFlags) *datav3.HTTPAccessLogEntry {
	c := &datav3.AccessLogCommon{
		DownstreamRemoteAddress: sockAddr("198.51.100.9", 40000), ResponseFlags: flags,
		AccessLogType: datav3.AccessLogType_DownstreamEnd,
	}
	if sni != "" {
		c.TlsProperties = &datav3.TLSProperties{TlsVersion: datav3.TLSProperties_TLSv1_3, TlsSniHostname: sni}
	}
	e := &datav3.HTTPAccessLogEntry{CommonProperties: c, ProtocolVersion: datav3.HTTPAccessLogEntry_HTTP2,
		Request: &datav3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod_GET, Scheme: "https",
			Authority: authority, Path: path, RequestId: id, UserAgent: "curl/8.11.1"},
		Response: &datav3.HTTPResponseProperties{ResponseCodeDetails: details}}
	if status != 0 {
		e.Response.ResponseCode = wrapperspb.UInt32(status)
	}
	return e
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines are the lines logged with msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
