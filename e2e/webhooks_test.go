package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWebhooksThroughTheCLI: on the real binary, a webhook added with the
// CLI (its secret printed once, never listed) receives a deny entry added
// with the CLI as a certificate.denied event on a loopback receiver that
// checks the signature with its own HMAC code; the receiver's first answer
// is a 503, so the delivery log shows it delivered on the second attempt.
func TestWebhooksThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	const secret = "e2e-webhook-secret-0123456789"
	var mu sync.Mutex
	var got []map[string]any
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := checkSignature(secret, r.Header.Get("Mtlsgate-Signature"), body); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
		got = append(got, ev)
	}))
	t.Cleanup(srv.Close)
	config := writeFile(t, dir, "mtlsgate.yaml", []byte("webhooks:\n  period: 100ms\n  audit_settle: 10ms\n  retry_min: 100ms\n  retry_max: 1s\n"))
	in := serveArgs(t, filepath.Join(dir, "data"), "--config", config, "--admin-addr", "127.0.0.1:0", "--authz-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0")

	var created struct {
		Webhook struct{ ID string }
		Secret  string
	}
	out := in.cli(t, "webhook", "add", "--url", srv.URL+"/hook", "--event", "certificate.denied", "--secret", secret, "-o", "json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Secret != secret {
		t.Fatalf("webhook add: %v %s", err, out)
	}
	if list := in.cli(t, "webhook", "list"); !strings.Contains(list, srv.URL) || strings.Contains(list, secret) {
		t.Fatalf("webhook list: %s", list)
	}
	fp := strings.Repeat("5a", 32)
	in.cli(t, "deny", "add", "--fingerprint", fp, "--comment", "e2e")
	eventually(t, 20*time.Second, "the event delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	mu.Lock()
	ev := got[0]
	mu.Unlock()
	if ev["type"] != "certificate.denied" || !strings.Contains(fmt.Sprint(ev["details"]), fp) {
		t.Fatalf("event %v", ev)
	}
	var log struct {
		Deliveries []struct {
			State    string
			Attempts int
			EventID  string `json:"event_id"`
		}
	}
	eventually(t, 10*time.Second, "the delivery recorded", func() bool {
		out := in.cli(t, "webhook", "deliveries", "--webhook", created.Webhook.ID, "-o", "json")
		if err := json.Unmarshal([]byte(out), &log); err != nil {
			t.Fatalf("deliveries: %v %s", err, out)
		}
		return len(log.Deliveries) == 1 && log.Deliveries[0].State == "delivered"
	})
	if d := log.Deliveries[0]; d.Attempts != 2 || d.EventID != ev["id"] {
		t.Fatalf("delivery %+v, event %v", d, ev["id"])
	}
	in.cli(t, "webhook", "remove", created.Webhook.ID)
	if list := in.cli(t, "webhook", "list", "-o", "id"); list != "" {
		t.Fatalf("after remove: %q", list)
	}
}

// checkSignature verifies Mtlsgate-Signature as docs/identities.md tells a
// receiver to: HMAC-SHA256 over "<t>.<body>", and a fresh timestamp.
func checkSignature(secret, header string, body []byte) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("header %q", header)
	}
	if d := time.Since(time.Unix(t, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %d is %s off", t, d)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	if !hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(sig)) {
		return fmt.Errorf("v1 %q does not match", sig)
	}
	return nil
}
