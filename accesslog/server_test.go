package accesslog_test

import (
	"testing"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"

	"github.com/mtlsgate/mtlsgate/accesslog"
	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/promtest"
)

// Failure reasons as Envoy writes them.
const (
	verifyFailed   = "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end"
	verifyExpired  = "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:certificate has expired:TLS_error_end"
	noCertificate  = "TLS_error:|268435646:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE:TLS_error_end"
	unknownCA      = "TLS_error:|268436502:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA:TLS_error_end"
	noSharedCipher = "TLS_error:|268435640:SSL routines:OPENSSL_internal:NO_SHARED_CIPHER:TLS_error_end"
	httpRequest    = "TLS_error:|268435612:SSL routines:OPENSSL_internal:HTTP_REQUEST:TLS_error_end"
)

// TestStreamAsEnvoySends: a node streams both logs as Envoy does; every
// closed connection is counted by site and result, failed handshakes and
// failed requests are logged with what ties them to the client and to the
// ext_authz decision.
func TestStreamAsEnvoySends(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	creds := h.pki.ClientCreds(h.node(t, "eu", "edge-1"))
	err := h.send(t, creds,
		tcpBatch(ident("eu", "edge-1", contract.AccessLogConnections),
			conn("203.0.113.7", siteWWW, ""), conn("203.0.113.7", "WWW.example.com", ""),
			conn("203.0.113.8", siteWWW, verifyFailed), conn("203.0.113.9", "a.apps.example.com", noCertificate)),
		tcpBatch(nil, conn("203.0.113.10", "nope.example.org", unknownCA), conn("203.0.113.11", "", httpRequest),
			conn("203.0.113.12", siteWWW, noSharedCipher), conn("203.0.113.13", "b.apps.example.com", verifyExpired)),
	)
	if err != nil {
		t.Fatalf("connections stream: %v", err)
	}
	uaex := &datav3.ResponseFlags{UnauthorizedDetails: &datav3.ResponseFlags_Unauthorized{Reason: datav3.ResponseFlags_Unauthorized_EXTERNAL_SERVICE}}
	err = h.send(t, creds,
		httpBatch(ident("eu", "edge-1", contract.AccessLogHTTP),
			req(siteWWW, siteWWW, "/admin?x=1", "9de07a8b-23d1-4400-a583-2185cac860ee", 403, "ext_authz_denied", uaex),
			req("", "c.apps.example.com:443", "/", "id-2", 503, "upstream_reset_before_response_started{remote_connection_failure}",
				&datav3.ResponseFlags{UpstreamConnectionFailure: true, UpstreamRetryLimitExceeded: true})),
		httpBatch(nil, req(siteWWW, siteWWW, "/x", "id-3", 0, "downstream_remote_disconnect", &datav3.ResponseFlags{DownstreamRemoteReset: true}),
			req("", "other.example.net", "/", "id-4", 404, "route_not_found", &datav3.ResponseFlags{NoRouteFound: true}),
			req(siteWWW, siteWWW, "/ok", "id-5", 200, "via_upstream", nil)),
	)
	if err != nil {
		t.Fatalf("http stream: %v", err)
	}

	for _, c := range []struct {
		site, result string
		n            float64
	}{
		{siteWWW, "ok", 2}, {siteWWW, "bad_client_certificate", 1}, {siteWWW, "protocol", 1},
		{siteApps, "no_client_certificate", 1}, {siteApps, "bad_client_certificate", 1},
		{"unknown", "server_certificate_rejected", 1}, {"unknown", "not_tls", 1},
	} {
		if got := promtest.Value(t, h.metrics, "mtlsgate_envoy_connections_total", map[string]string{"site": c.site, "result": c.result}); got != c.n {
			t.Errorf("connections{site=%s,result=%s} = %v, want %v", c.site, c.result, got, c.n)
		}
	}
	if got := promtest.Sum(t, h.metrics, "mtlsgate_envoy_connections_total"); got != 8 {
		t.Errorf("connections counted: %v, want 8", got)
	}
	for _, c := range []struct{ site, status, flags string }{
		{siteWWW, "403", "UAEX"}, {siteApps, "503", "UF,URX"}, {siteWWW, "other", "DR"}, {"unknown", "404", "NR"},
	} {
		if got := promtest.Value(t, h.metrics, "mtlsgate_envoy_requests_failed_total", map[string]string{"site": c.site, "status": c.status, "flags": c.flags}); got != 1 {
			t.Errorf("requests_failed{site=%s,status=%s,flags=%s} = %v, want 1", c.site, c.status, c.flags, got)
		}
	}
	if got := promtest.Sum(t, h.metrics, "mtlsgate_envoy_requests_failed_total"); got != 4 {
		t.Errorf("failed requests counted: %v, want 4 (a 200 without flags is no failure)", got)
	}

	conns := h.logs.lines(t, "envoy connection")
	if len(conns) != 6 {
		t.Fatalf("%d connection lines, want one per failed handshake (6): %v", len(conns), conns)
	}
	wantLine(t, conns[0], map[string]any{"node": "edge-1", "site": siteWWW, "sni": siteWWW, "peer": "203.0.113.8:51234",
		"result": "bad_client_certificate", "reason": verifyFailed})
	wantLine(t, conns[3], map[string]any{"site": "unknown", "sni": "", "result": "not_tls", "reason": httpRequest})
	reqs := h.logs.lines(t, "envoy request")
	if len(reqs) != 4 {
		t.Fatalf("%d request lines, want one per failed request (4): %v", len(reqs), reqs)
	}
	wantLine(t, reqs[0], map[string]any{"node": "edge-1", "site": siteWWW, "request_id": "9de07a8b-23d1-4400-a583-2185cac860ee",
		"status": 403.0, "flags": "UAEX", "response_code_details": "ext_authz_denied", "path": "/admin?x=1", "peer": "198.51.100.9:40000"})
	wantLine(t, reqs[1], map[string]any{"site": siteApps, "status": 503.0, "flags": "UF,URX"})
	if n := promtest.Sum(t, h.metrics, "mtlsgate_envoy_access_log_refused_streams_total"); n != 0 {
		t.Errorf("%v streams refused", n)
	}
}

// wantLine fails unless line has every field of want.
func wantLine(t *testing.T, line map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %#v, want %#v (line %v)", k, line[k], v, line)
		}
	}
}

// TestDecisionLogLevels: off logs nothing but still counts; failures
// skips a request that did not fail, all logs it; a successful connection
// is never logged.
func TestDecisionLogLevels(t *testing.T) {
	for _, c := range []struct {
		level       string
		conns, reqs int
	}{{"off", 0, 0}, {"failures", 1, 1}, {"all", 1, 2}} {
		t.Run(c.level, func(t *testing.T) {
			h := newHarness(t, harnessOpts{decisionLog: accesslog.DecisionLog(c.level)})
			creds := h.pki.ClientCreds(h.node(t, "eu", "edge-1"))
			if err := h.send(t, creds, tcpBatch(ident("eu", "edge-1", contract.AccessLogConnections),
				conn("203.0.113.7", siteWWW, ""), conn("203.0.113.8", siteWWW, verifyFailed))); err != nil {
				t.Fatal(err)
			}
			if err := h.send(t, creds, httpBatch(ident("eu", "edge-1", contract.AccessLogHTTP),
				req(siteWWW, siteWWW, "/", "a", 403, "ext_authz_denied", nil), req(siteWWW, siteWWW, "/", "b", 200, "via_upstream", nil))); err != nil {
				t.Fatal(err)
			}
			if got := len(h.logs.lines(t, "envoy connection")); got != c.conns {
				t.Errorf("%d connection lines, want %d", got, c.conns)
			}
			if got := len(h.logs.lines(t, "envoy request")); got != c.reqs {
				t.Errorf("%d request lines, want %d", got, c.reqs)
			}
			if got := promtest.Sum(t, h.metrics, "mtlsgate_envoy_connections_total"); got != 2 {
				t.Errorf("connections counted: %v, want 2", got)
			}
			if got := promtest.Sum(t, h.metrics, "mtlsgate_envoy_requests_failed_total"); got != 1 {
				t.Errorf("failed requests counted: %v, want 1", got)
			}
		})
	}
}

// TestIntermediateEntriesAreNotCounted: periodic and start entries of a
// connection or request are skipped; its final entry counts it.
func TestIntermediateEntriesAreNotCounted(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	creds := h.pki.ClientCreds(h.node(t, "eu", "edge-1"))
	periodic, start := conn("203.0.113.7", siteWWW, ""), conn("203.0.113.7", siteWWW, "")
	periodic.CommonProperties.AccessLogType = datav3.AccessLogType_TcpPeriodic
	start.CommonProperties.AccessLogType = datav3.AccessLogType_TcpConnectionStart
	end := conn("203.0.113.7", siteWWW, "")
	end.CommonProperties.AccessLogType = datav3.AccessLogType_TcpConnectionEnd
	if err := h.send(t, creds, tcpBatch(ident("eu", "edge-1", contract.AccessLogConnections), periodic, start, end)); err != nil {
		t.Fatal(err)
	}
	if got := promtest.Sum(t, h.metrics, "mtlsgate_envoy_connections_total"); got != 1 {
		t.Errorf("connections counted: %v, want 1", got)
	}
}

// TestDeletedSiteSeriesDisappear: once a site is deleted, its series are
// gone from the next scrape; other sites' stay.
func TestDeletedSiteSeriesDisappear(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	creds := h.pki.ClientCreds(h.node(t, "eu", "edge-1"))
	send := func() {
		t.Helper()
		if err := h.send(t, creds, tcpBatch(ident("eu", "edge-1", contract.AccessLogConnections),
			conn("203.0.113.8", siteWWW, verifyFailed), conn("203.0.113.8", "a.apps.example.com", ""))); err != nil {
			t.Fatal(err)
		}
		if err := h.send(t, creds, httpBatch(ident("eu", "edge-1", contract.AccessLogHTTP),
			req(siteWWW, siteWWW, "/", "a", 403, "ext_authz_denied", nil))); err != nil {
			t.Fatal(err)
		}
	}
	send()
	www := map[string]string{"site": siteWWW}
	if promtest.Value(t, h.metrics, "mtlsgate_envoy_connections_total", www) != 1 ||
		promtest.Value(t, h.metrics, "mtlsgate_envoy_requests_failed_total", www) != 1 {
		t.Fatal("the site's entries were not counted")
	}
	if err := h.store.DeleteSite(t.Context(), nodetest.Admin, siteWWW); err != nil {
		t.Fatal(err)
	}
	h.reload()
	for _, name := range []string{"mtlsgate_envoy_connections_total", "mtlsgate_envoy_requests_failed_total"} {
		if series := seriesWith(t, h, name, siteWWW); series != 0 {
			t.Errorf("%s: %d series of the deleted site", name, series)
		}
	}
	if promtest.Value(t, h.metrics, "mtlsgate_envoy_connections_total", map[string]string{"site": siteApps}) != 1 {
		t.Error("another site's series went too")
	}
	send() // the deleted site's name is now unknown
	if got := promtest.Value(t, h.metrics, "mtlsgate_envoy_connections_total", map[string]string{"site": "unknown"}); got != 1 {
		t.Errorf("connections to the deleted site's name: %v under unknown, want 1", got)
	}
}

// seriesWith counts the series of family name with site label site.
func seriesWith(t *testing.T, h *harness, name, site string) int {
	t.Helper()
	families, err := h.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "site" && l.GetValue() == site {
					n++
				}
			}
		}
	}
	return n
}

// TestNoFilterChain: a connection whose SNI named no site closes before
// any handshake, with no failure reason but the NR flag: it is counted
// as no_filter_chain, not as ok (found in review).
func TestNoFilterChain(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	creds := h.pki.ClientCreds(h.node(t, "eu", "edge-1"))
	scan := conn("203.0.113.20", "scanner.invalid", "")
	scan.CommonProperties.ResponseFlags = &datav3.ResponseFlags{NoRouteFound: true}
	if err := h.send(t, creds, tcpBatch(ident("eu", "edge-1", contract.AccessLogConnections), scan)); err != nil {
		t.Fatal(err)
	}
	if got := promtest.Value(t, h.metrics, "mtlsgate_envoy_connections_total", map[string]string{"site": "unknown", "result": "no_filter_chain"}); got != 1 {
		t.Fatalf("no_filter_chain = %v, want 1", got)
	}
	if got := promtest.Value(t, h.metrics, "mtlsgate_envoy_connections_total", map[string]string{"site": "unknown", "result": "ok"}); got != 0 {
		t.Fatalf("counted as ok too: %v", got)
	}
}
