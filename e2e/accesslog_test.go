package e2e

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEnvoyAccessLogs: what Envoy reports of connections and requests
// reaches mtlsgate over the node's xDS channel, per site and reason: a
// handshake an enforcing site refused (no certificate, an untrusted one),
// and a request ext_authz denied, whose log line carries the request id
// of the decision line. Underscored headers never reach the origin.
func TestEnvoyAccessLogs(t *testing.T) {
	d := deploy(t)
	for _, cert := range []string{"", "other"} {
		c := d.certs[cert]
		if resp, _, err := d.c.get("enforce.example.com", "enforce.example.com", "/", c, nil); err == nil {
			t.Fatalf("handshake with %q succeeded: %d", cert, resp.StatusCode)
		}
	}
	resp, _, err := d.c.get("enforce.example.com", "enforce.example.com", "/denied", d.certs["revoked"], nil)
	if err != nil || resp.StatusCode != 403 {
		t.Fatalf("revoked: %v %v", err, resp)
	}
	// CGI-style origins read x_client_cert_verify as x-client-cert-verify.
	resp, got, err := d.c.get("permissive.example.com", "permissive.example.com", "/", nil, map[string]string{"X_Client_Cert_Verify": "SUCCESS"})
	if err != nil || resp.StatusCode != 200 || got.Headers.Get("X_Client_Cert_Verify") != "" || got.Headers.Get("X-Client-Cert-Verify") != "NONE" {
		t.Fatalf("underscored header: %v %v %v", err, resp, got)
	}
	want := map[string]*regexp.Regexp{
		"no certificate": regexp.MustCompile(`mtlsgate_envoy_connections_total\{result="no_client_certificate",site="enforce\.example\.com"\} ([0-9.e+]+)`),
		"untrusted":      regexp.MustCompile(`mtlsgate_envoy_connections_total\{result="bad_client_certificate",site="enforce\.example\.com"\} ([0-9.e+]+)`),
		"denied":         regexp.MustCompile(`mtlsgate_envoy_requests_failed_total\{flags="UAEX",site="enforce\.example\.com",status="403"\} ([0-9.e+]+)`),
	}
	var page string
	arrived := func() bool {
		page = d.in.metrics(t)
		for _, re := range want {
			m := re.FindStringSubmatch(page)
			if m == nil {
				return false
			}
			if n, _ := strconv.ParseFloat(m[1], 64); n < 1 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(20 * time.Second); !arrived(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			var seen []string
			for _, l := range strings.Split(page, "\n") {
				if strings.HasPrefix(l, "mtlsgate_envoy_") {
					seen = append(seen, l)
				}
			}
			t.Fatalf("Envoy's access logs did not reach the metrics within 20s; mtlsgate_envoy_*:\n%s\nserver log:\n%s",
				strings.Join(seen, "\n"), d.in.logs)
		}
	}
	// The denial's access-log line and its decision line share the id.
	var ids [2]string
	for _, l := range strings.Split(d.in.logs.String(), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(l), &line) != nil || line["path"] != "/denied" {
			continue
		}
		switch id, _ := line["request_id"].(string); line["msg"] {
		case "decision":
			ids[0] = id
		case "envoy request":
			ids[1] = id
		}
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("request ids: decision %q, access log %q\n%s", ids[0], ids[1], d.in.logs)
	}
}
