package webhook_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mtlsgate/mtlsgate/internal/promtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/webhook"
)

const secret = "a-receiver-secret-of-some-length"

// TestDeniedDeliveredAfterRetry: a deny entry created through the store
// becomes a certificate.denied event, signed (the receiver checks with its
// own HMAC code), refused once with a 500 and delivered on the second
// attempt with the same delivery id and body; the log says delivered,
// attempts 2, status 200. A webhook for other types gets nothing.
func TestDeniedDeliveredAfterRetry(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver(t, secret, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	w := addWebhook(t, s, rcv.srv.URL+"/hook", secret, store.EventCertificateDenied)
	other := newReceiver(t, secret, func(int) int { return http.StatusOK })
	addWebhook(t, s, other.srv.URL, secret, store.EventCRLExpiring)
	reg := prometheus.NewRegistry()
	o := fast(s)
	o.Metrics = webhook.NewMetrics(reg)
	r := start(t, o, true)
	e := deny(t, s, "ab")
	log := finished(t, s, 1)
	r.waitScans(t, 3) // the other webhook would have had its delivery by now
	if len(log) != 1 {
		t.Fatalf("%d deliveries, want 1: %v", len(log), log)
	}
	d := log[0]
	if d.GetState() != store.DeliveryDelivered || d.GetAttempts() != 2 || d.GetLastStatus() != 200 || d.GetWebhookId() != w.GetId() ||
		d.GetEventType() != store.EventCertificateDenied {
		t.Fatalf("delivery %v", d)
	}
	got := rcv.requests()
	if len(got) != 2 || got[0].delivery != d.GetId() || got[1].delivery != d.GetId() || got[0].event["id"] != got[1].event["id"] {
		t.Fatalf("requests %v, want two of delivery %s", got, d.GetId())
	}
	ev := got[1].event
	details, _ := ev["details"].(map[string]any)
	if ev["type"] != store.EventCertificateDenied || ev["object"] != "deny/"+e.GetId() || ev["id"] != d.GetEventId() ||
		details["action"] != "CreateDenyEntry" || details["actor"] != "tok1" || !strings.Contains(details["message"].(string), e.GetSha256Fingerprint()) {
		t.Fatalf("event %v", ev)
	}
	if _, err := time.Parse(time.RFC3339, ev["time"].(string)); err != nil {
		t.Fatalf("time %v: %v", ev["time"], err)
	}
	if n := len(other.requests()); n != 0 {
		t.Fatalf("a webhook for crl.expiring got %d requests", n)
	}
	typ := map[string]string{"type": store.EventCertificateDenied}
	if n := promtest.Value(t, reg, "mtlsgate_webhook_attempt_failures_total", typ); n != 1 {
		t.Errorf("attempt failures %v, want 1", n)
	}
	if n := promtest.Value(t, reg, "mtlsgate_webhook_deliveries_total", map[string]string{"type": store.EventCertificateDenied, "result": "delivered"}); n != 1 {
		t.Errorf("delivered %v, want 1", n)
	}
}

// TestRefusalAndTimeoutFail: a 400 fails the delivery at once (one
// attempt); a receiver that never answers hits the timeout, and after the
// attempts run out the delivery fails, its error saying so.
func TestRefusalAndTimeoutFail(t *testing.T) {
	s := openStore(t)
	bad := newReceiver(t, secret, func(int) int { return http.StatusBadRequest })
	wBad := addWebhook(t, s, bad.srv.URL, secret)
	release := make(chan struct{})
	silent := newReceiver(t, secret, func(int) int { <-release; return http.StatusOK })
	t.Cleanup(func() { close(release) }) // before the server's Close (cleanups run last first)
	wSilent := addWebhook(t, s, silent.srv.URL, secret)
	o := fast(s)
	o.Timeout, o.MaxAttempts = 100*time.Millisecond, 2
	start(t, o, true)
	deny(t, s, "cd")
	log := finished(t, s, 2)
	for _, d := range log {
		switch d.GetWebhookId() {
		case wBad.GetId():
			if d.GetState() != store.DeliveryFailed || d.GetAttempts() != 1 || d.GetLastStatus() != 400 {
				t.Errorf("400: %v", d)
			}
		case wSilent.GetId():
			if d.GetState() != store.DeliveryFailed || d.GetAttempts() != 2 || d.GetLastStatus() != 0 || !strings.Contains(d.GetLastError(), "no answer within") {
				t.Errorf("silent: %v", d)
			}
		}
	}
	if n := len(bad.requests()); n != 1 {
		t.Fatalf("the refusing receiver got %d requests, want 1", n)
	}
}

// TestExpiryReportedOnce: a client CA expiring within the window is
// reported once per webhook, not every period, nor again by a dispatcher
// taking over (the notice is in the store); one outside a webhook's
// shorter window is not reported to it.
func TestExpiryReportedOnce(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver(t, secret, func(int) int { return http.StatusOK })
	addWebhook(t, s, rcv.srv.URL, secret, store.EventClientCAExpiring)
	short := newReceiver(t, secret, func(int) int { return http.StatusOK })
	if _, _, err := s.CreateWebhook(t.Context(), store.Actor{TokenID: "admin"}, &pb.Webhook{Url: short.srv.URL, Secret: secret,
		ExpiryWindow: durationpb.New(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	root := testpki.NewRoot(t, "Soon Root", testpki.Options{NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	ca, err := s.CreateCA(t.Context(), store.Actor{TokenID: "admin"}, "soon", root.PEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, fast(s), true)
	finished(t, s, 1)
	r.waitScans(t, 5)
	r.stop()
	r2 := start(t, fast(s), true)
	r2.waitScans(t, 3)
	got := rcv.requests()
	if len(got) != 1 || got[0].typ != store.EventClientCAExpiring {
		t.Fatalf("requests %v, want one client_ca.expiring", got)
	}
	details := got[0].event["details"].(map[string]any)
	if got[0].event["object"] != "ca/"+ca.GetId() || details["sha256_fingerprint"] != ca.GetInfo().GetSha256Fingerprint() || details["not_after"] == nil {
		t.Fatalf("event %v", got[0].event)
	}
	if n := len(short.requests()); n != 0 {
		t.Fatalf("a webhook with a 24h window got %d requests for a CA expiring in 10 days", n)
	}
}

// TestSignAndVerify: the package's Verify accepts what Sign makes and the
// receiver's own code accepts it too; a changed body, another secret or
// an old timestamp are refused.
func TestSignAndVerify(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":"x"}`)
	h := webhook.Sign(secret, now, body)
	if err := verify(secret, h, body, now); err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(secret, h, body, now, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"body":   webhook.Verify(secret, h, []byte(`{"id":"y"}`), now, 5*time.Minute),
		"secret": webhook.Verify(secret+"x", h, body, now, 5*time.Minute),
		"old":    webhook.Verify(secret, h, body, now.Add(6*time.Minute), 5*time.Minute),
		"shape":  webhook.Verify(secret, "v1=00", body, now, 5*time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
