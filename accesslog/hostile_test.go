package accesslog_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mtlsgate/mtlsgate/accesslog"
	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/internal/promtest"
)

// maxLogged is the longest a cut value may be: 256 bytes and the mark.
const maxLogged = 256 + len("…")

// TestHostileStringsAreCut: strings from Envoy of any length reach the
// log cut at a character boundary, and never a metric label.
func TestHostileStringsAreCut(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	creds := h.pki.ClientCreds(h.node(t, "eu", "edge-1"))
	long := strings.Repeat("é", 100<<10) // two bytes each: cutting at 256 bytes falls on a boundary only if done right
	sni := "a" + long + ".example.com"
	c := conn(long, sni, verifyFailed+long)
	r := req(sni, long, "/"+long, long, 403, long, nil)
	if err := h.send(t, creds, tcpBatch(ident("eu", "edge-1", contract.AccessLogConnections), c)); err != nil {
		t.Fatal(err)
	}
	if err := h.send(t, creds, httpBatch(ident("eu", "edge-1", contract.AccessLogHTTP), r)); err != nil {
		t.Fatal(err)
	}
	lines := append(h.logs.lines(t, "envoy connection"), h.logs.lines(t, "envoy request")...)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	for _, line := range lines {
		for k, v := range line {
			if s, ok := v.(string); ok && (len(s) > maxLogged || !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError)) {
				t.Errorf("%s: %d bytes, valid UTF-8 %v: not cut at a character boundary within %d bytes", k, len(s), utf8.ValidString(s), maxLogged)
			}
		}
	}
	if lines[0]["result"] != "bad_client_certificate" || lines[0]["site"] != "unknown" {
		t.Errorf("connection line %v", lines[0])
	}
	if got := promtest.Value(t, h.metrics, "mtlsgate_envoy_connections_total", map[string]string{"site": "unknown", "result": "bad_client_certificate"}); got != 1 {
		t.Errorf("connection counted %v under unknown/bad_client_certificate, want 1", got)
	}
}

// TestHostileVolumeIsBounded: entries past MaxEntries in a message are
// dropped and counted; a message over MaxMessageBytes ends the stream.
func TestHostileVolumeIsBounded(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	creds := h.pki.ClientCreds(h.node(t, "eu", "edge-1"))
	many := make([]*datav3.TCPAccessLogEntry, accesslog.MaxEntries+500)
	for i := range many {
		many[i] = conn("203.0.113.8", siteWWW, "")
	}
	if err := h.send(t, creds, tcpBatch(ident("eu", "edge-1", contract.AccessLogConnections), many...)); err != nil {
		t.Fatal(err)
	}
	if got := promtest.Sum(t, h.metrics, "mtlsgate_envoy_connections_total"); got != accesslog.MaxEntries {
		t.Errorf("connections counted: %v, want %d", got, accesslog.MaxEntries)
	}
	if got := promtest.Sum(t, h.metrics, "mtlsgate_envoy_access_log_dropped_entries_total"); got != 500 {
		t.Errorf("dropped: %v, want 500", got)
	}
	huge := tcpBatch(nil, conn("203.0.113.8", siteWWW, strings.Repeat("A", accesslog.MaxMessageBytes)))
	err := h.send(t, creds, tcpBatch(ident("eu", "edge-1", contract.AccessLogConnections), conn("203.0.113.8", siteWWW, "")), huge)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a message of %d bytes: %v, want ResourceExhausted", proto.Size(huge), err)
	}
	if got := promtest.Value(t, h.metrics, "mtlsgate_envoy_access_log_refused_streams_total", map[string]string{"reason": "too_large"}); got != 1 {
		t.Errorf("too_large refusals: %v, want 1", got)
	}
}

// TestRequestLabelsAreBounded: every status and flag combination a node
// can send yields a bounded set of series.
func TestRequestLabelsAreBounded(t *testing.T) {
	h := newHarness(t, harnessOpts{decisionLog: accesslog.LogOff})
	creds := h.pki.ClientCreds(h.node(t, "eu", "edge-1"))
	fields := (&datav3.ResponseFlags{}).ProtoReflect().Descriptor().Fields()
	var msgs []*alsv3.StreamAccessLogsMessage
	var batch []*datav3.HTTPAccessLogEntry
	sent := 0
	for code := uint32(100); code < 600; code++ {
		for i := 0; i < 10; i++ { // ten flag pairs per status: 5000 combinations in all
			flags := &datav3.ResponseFlags{}
			for _, j := range []int{int(code) % fields.Len(), (int(code) + i + 1) % fields.Len()} {
				if f := fields.Get(j); f.Kind() == protoreflect.BoolKind {
					flags.ProtoReflect().Set(f, protoreflect.ValueOfBool(true))
				}
			}
			batch = append(batch, req(siteWWW, siteWWW, "/", "id", code, "x", flags))
			sent++
			if len(batch) == accesslog.MaxEntries {
				msgs, batch = append(msgs, httpBatch(nil, batch...)), nil
			}
		}
	}
	msgs = append(msgs, httpBatch(nil, batch...))
	msgs[0].Identifier = ident("eu", "edge-1", contract.AccessLogHTTP)
	if err := h.send(t, creds, msgs...); err != nil {
		t.Fatal(err)
	}
	families, err := h.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	flagValues := map[string]bool{}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "mtlsgate_envoy_requests_failed_total" {
			continue
		}
		if n := len(f.GetMetric()); n > 4096+1 {
			t.Errorf("%d series, more than the bound", n)
		}
		for _, m := range f.GetMetric() {
			total += m.GetCounter().GetValue()
			for _, l := range m.GetLabel() {
				if l.GetName() == "flags" {
					flagValues[l.GetValue()] = true
				}
			}
		}
	}
	if len(flagValues) > 64+1 {
		t.Errorf("%d flag label values, more than the bound", len(flagValues))
	}
	if !flagValues["other"] {
		t.Error("flag sets past the bound are not counted as other")
	}
	if total != float64(sent) {
		t.Errorf("counted %v requests, sent %d: none may be lost to the bounds", total, sent)
	}
}
