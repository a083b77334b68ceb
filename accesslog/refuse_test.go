package accesslog_test

import (
	"crypto/tls"
	"strings"
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/promtest"
)

// TestRefusedStreams: a stream from a caller that is not an unrevoked
// node, or that does not say which known log it is and which node it
// comes from, ends with an error and nothing it sent is counted or logged.
func TestRefusedStreams(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	// A server that lets unverified peers reach the handler: it must
	// refuse them itself.
	lax := newHarness(t, harnessOpts{clientAuth: tls.RequestClientCert})
	edge := h.node(t, "eu", "edge-1")
	revoked := h.node(t, "eu", "edge-r")
	nodetest.Revoke(t, h.store, revoked)
	h.reload()
	batch := func(fleet, node, log string) *alsv3.StreamAccessLogsMessage {
		return tcpBatch(ident(fleet, node, log), conn("203.0.113.8", siteWWW, verifyFailed))
	}
	for _, c := range []struct {
		name   string
		h      *harness
		creds  credentials.TransportCredentials
		msg    *alsv3.StreamAccessLogsMessage
		code   codes.Code
		reason string
	}{
		{"no client certificate", lax, lax.pki.ClientCreds(nil), batch("eu", "edge-1", contract.AccessLogConnections), codes.Unauthenticated, "no_identity"},
		{"certificate of another CA", lax, lax.pki.ClientCreds(nodetest.NodeFrom(t, lax.pki.Other, "eu", "edge-1")), batch("eu", "edge-1", contract.AccessLogConnections), codes.Unauthenticated, "no_identity"},
		{"revoked node", h, h.pki.ClientCreds(revoked), batch("eu", "edge-r", contract.AccessLogConnections), codes.PermissionDenied, "revoked"},
		{"unrecorded node", h, h.pki.ClientCreds(h.pki.Node(t, "eu", "edge-x")), batch("eu", "edge-x", contract.AccessLogConnections), codes.PermissionDenied, "revoked"},
		{"unknown log name", h, h.pki.ClientCreds(edge), batch("eu", "edge-1", "mtlsgate_other"), codes.InvalidArgument, "unknown_log"},
		{"no identifier", h, h.pki.ClientCreds(edge), tcpBatch(nil, conn("203.0.113.8", siteWWW, verifyFailed)), codes.InvalidArgument, "no_identifier"},
		{"another node's id", h, h.pki.ClientCreds(edge), batch("eu", "edge-2", contract.AccessLogConnections), codes.PermissionDenied, "node_mismatch"},
		{"another fleet", h, h.pki.ClientCreds(edge), batch("us", "edge-1", contract.AccessLogConnections), codes.PermissionDenied, "node_mismatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := promtest.Value(t, c.h.metrics, "mtlsgate_envoy_access_log_refused_streams_total", map[string]string{"reason": c.reason})
			err := c.h.send(t, c.creds, c.msg)
			if status.Code(err) != c.code {
				t.Fatalf("stream ended with %v, want %v", err, c.code)
			}
			if got := promtest.Value(t, c.h.metrics, "mtlsgate_envoy_access_log_refused_streams_total", map[string]string{"reason": c.reason}); got != before+1 {
				t.Errorf("refusals for %s: %v, want %v", c.reason, got, before+1)
			}
			if n := promtest.Sum(t, c.h.metrics, "mtlsgate_envoy_connections_total"); n != 0 {
				t.Errorf("a refused stream's entries were counted: %v", n)
			}
			if n := len(c.h.logs.lines(t, "envoy connection")); n != 0 {
				t.Errorf("a refused stream's entries were logged: %d lines", n)
			}
		})
	}
	if n := len(h.logs.lines(t, "access log stream refused (logged at most once a second)")); n == 0 {
		t.Error("no refusal logged")
	}
}

// TestRevocationEndsOpenStream: a node revoked while its stream is open
// is refused at its next message.
func TestRevocationEndsOpenStream(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	cert := h.node(t, "eu", "edge-1")
	s, done := h.open(t, h.pki.ClientCreds(cert))
	defer done()
	if err := s.Send(tcpBatch(ident("eu", "edge-1", contract.AccessLogConnections), conn("203.0.113.8", siteWWW, verifyFailed))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return promtest.Sum(t, h.metrics, "mtlsgate_envoy_connections_total") == 1 })
	nodetest.Revoke(t, h.store, cert)
	h.reload()
	_ = s.Send(tcpBatch(nil, conn("203.0.113.8", siteWWW, verifyFailed)))
	if _, err := s.CloseAndRecv(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("after the revocation: %v, want PermissionDenied", err)
	}
	if n := promtest.Sum(t, h.metrics, "mtlsgate_envoy_connections_total"); n != 1 {
		t.Errorf("connections counted: %v, want only the one sent before the revocation", n)
	}
}

// TestPlaintextOptOut: without node identities any caller is admitted,
// and its lines name the node Envoy says it is.
func TestPlaintextOptOut(t *testing.T) {
	h := newHarness(t, harnessOpts{plaintext: true})
	if err := h.send(t, insecure.NewCredentials(), tcpBatch(ident("eu", "edge-9"+strings.Repeat("x", 300), contract.AccessLogConnections),
		conn("203.0.113.8", siteWWW, verifyFailed))); err != nil {
		t.Fatal(err)
	}
	lines := h.logs.lines(t, "envoy connection")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1", len(lines))
	}
	if node, _ := lines[0]["node"].(string); !strings.HasPrefix(node, "edge-9x") || len(node) > 256+len("…") {
		t.Errorf("node %q: want Envoy's node id, cut", node)
	}
}
