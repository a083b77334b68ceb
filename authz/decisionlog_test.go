package authz_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/mtlsgate/mtlsgate/authz"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestDecisionLogCorrelates: a decision line carries what ties it to
// Envoy's logs (request id, peer, path) and, for a request no site
// answers, the SNI and host it named; request values are cut to a bound.
func TestDecisionLogCorrelates(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, authz.Options{DecisionLog: authz.LogAll, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	cr := envoyRequest(req{sni: "nosuch.example.com", host: "nosuch.example.com", path: "/a/" + strings.Repeat("é", 300)})
	cr.Attributes.Request.Http.Id = "8123456789"
	cr.Attributes.Request.Http.Headers["x-request-id"] = "req-42"
	cr.Attributes.Source.Address = &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "2001:db8::7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40123}}}}
	if _, err := e.svc.Check(context.Background(), cr); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, `"msg":"decision"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
		}
	}
	for k, want := range map[string]string{"reason": "unknown_site", "request_id": "req-42", "stream_id": "8123456789", "peer": "[2001:db8::7]:40123",
		"sni": "nosuch.example.com", "host": "nosuch.example.com"} {
		if line[k] != want {
			t.Errorf("%s: %v, want %q", k, line[k], want)
		}
	}
	path, _ := line["path"].(string)
	if !strings.HasPrefix(path, "/a/é") || !strings.HasSuffix(path, "…") || len(path) > 260 || strings.ContainsRune(path, '\uFFFD') {
		t.Errorf("path not cut at a character boundary within the bound: %d bytes %q", len(path), path)
	}
}

// TestDecisionLogSaysWhyXFCCGaveNothing: a request to an XFCC site whose
// element is not trusted is logged with the condition that failed.
func TestDecisionLogSaysWhyXFCCGaveNothing(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, authz.Options{DecisionLog: authz.LogAll, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	root := e.ca("root", e.pki.root, e.pki.inter)
	e.site("by.example.com", &pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE, CertificateSource: pb.CertificateSource_CERTIFICATE_SOURCE_XFCC,
		Xfcc: &pb.XFCCSettings{TrustedBy: []string{gatewayBy}}}, root)
	e.waitLoaded()
	e.check(req{host: "by.example.com", headers: header(by(element(e.pki.good, true), "spiffe://elsewhere"))})
	if s := logs.String(); !strings.Contains(s, `"reason":"no_certificate"`) || !strings.Contains(s, `not by a trusted_by URI`) ||
		!strings.Contains(s, `spiffe://elsewhere`) {
		t.Fatalf("decision log does not say why: %s", s)
	}
}
