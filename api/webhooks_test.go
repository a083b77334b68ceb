package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/server"
)

// startFastWebhooks runs a real server whose webhook dispatcher looks for
// events every 100ms.
func startFastWebhooks(t *testing.T) *env {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.AdminAddr, cfg.AuthzAddr, cfg.XDSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLS.InsecurePlaintext = true
	cfg.Webhooks.Period, cfg.Webhooks.AuditSettle = 100*time.Millisecond, time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.Start(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	tok, err := os.ReadFile(filepath.Join(cfg.Data, server.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(s.AdminAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &env{addr: s.AdminAddr(), admin: strings.TrimSpace(string(tok)), srv: s, conn: conn, stop: cancel}
}

// hookReceiver collects the events posted to it whose signatures verify
// (with this test's own HMAC code) under secret.
type hookReceiver struct {
	mu     sync.Mutex
	events []map[string]any
}

func (h *hookReceiver) handler(t *testing.T, secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ts int64
		var sig string
		if _, err := fmt.Sscanf(r.Header.Get("Mtlsgate-Signature"), "t=%d,v1=%s", &ts, &sig); err != nil {
			t.Errorf("signature header %q: %v", r.Header.Get("Mtlsgate-Signature"), err)
		}
		m := hmac.New(sha256.New, []byte(secret))
		fmt.Fprintf(m, "%d.%s", ts, body)
		if want := hex.EncodeToString(m.Sum(nil)); sig != want || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
			t.Errorf("signature %q at %d, want %q", sig, ts, want)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
	})
}

// TestWebhooksEndToEnd: a webhook created over JSON/HTTP (secret shown
// once, never listed); hostile input refused 400 naming the field; a deny
// entry created over gRPC reaches a receiver on loopback as a signed
// certificate.denied event; the delivery log lists it delivered, newest
// first, over both faces; deleting the webhook is audited.
func TestWebhooksEndToEnd(t *testing.T) {
	e := startFastWebhooks(t)
	c := e.client(e.admin)
	const secret = "end-to-end-secret-0123456789"
	rcv := &hookReceiver{}
	srv := httptest.NewServer(rcv.handler(t, secret))
	t.Cleanup(srv.Close)
	for _, bad := range []struct{ body, field string }{
		{`{"webhook": {"url": "http://10.1.2.3/hook"}}`, "url"},
		{`{"webhook": {"url": "` + srv.URL + `", "events": ["nope"]}}`, "events"},
		{`{"webhook": {"url": "` + srv.URL + `", "expiry_window": "60s"}}`, "expiry_window"},
		{`{"webhook": {"url": "` + srv.URL + `", "secret": "short"}}`, "secret"},
	} {
		if code, _, body := e.do(t, e.admin, "POST", "/v1/webhooks", "application/json", []byte(bad.body)); code != 400 || !strings.Contains(string(body), bad.field+":") {
			t.Errorf("%s: %d %s, want 400 naming %s", bad.body, code, body, bad.field)
		}
	}
	body := `{"webhook": {"url": "` + srv.URL + `/hook", "events": ["certificate.denied"], "secret": "` + secret + `", "description": "ops"}}`
	code, _, out := e.do(t, e.admin, "POST", "/v1/webhooks", "application/json", []byte(body))
	var created struct {
		Webhook struct{ ID string }
		Secret  string
	}
	if err := json.Unmarshal(out, &created); code != 200 || err != nil || created.Secret != secret || created.Webhook.ID == "" {
		t.Fatalf("create: %d %s", code, out)
	}
	if code, _, out := e.do(t, e.admin, "GET", "/v1/webhooks", "", nil); code != 200 || strings.Contains(string(out), secret) || !strings.Contains(string(out), created.Webhook.ID) {
		t.Fatalf("GET /v1/webhooks: %d %s", code, out)
	}
	entry, err := c.CreateDenyEntry(context.Background(), &pb.CreateDenyEntryRequest{Entry: &pb.DenyEntry{Sha256Fingerprint: strings.Repeat("ef", 32)}})
	if err != nil {
		t.Fatal(err)
	}
	var ds []*pb.WebhookDelivery
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := c.ListWebhookDeliveries(context.Background(), &pb.ListWebhookDeliveriesRequest{WebhookId: created.Webhook.ID})
		if err != nil {
			t.Fatal(err)
		}
		if ds = resp.GetDeliveries(); len(ds) == 1 && ds[0].GetState() == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %v", ds)
		}
	}
	rcv.mu.Lock()
	events := rcv.events
	rcv.mu.Unlock()
	if len(events) != 1 || events[0]["type"] != "certificate.denied" || events[0]["object"] != "deny/"+entry.GetId() || events[0]["id"] != ds[0].GetEventId() {
		t.Fatalf("received %v", events)
	}
	if code, _, out := e.do(t, e.admin, "GET", "/v1/webhook-deliveries?limit=5", "", nil); code != 200 || !strings.Contains(string(out), ds[0].GetId()) {
		t.Fatalf("GET /v1/webhook-deliveries: %d %s", code, out)
	}
	if _, err := c.ListWebhookDeliveries(context.Background(), &pb.ListWebhookDeliveriesRequest{Limit: 1001}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("limit 1001: %v", err)
	}
	if code, _, out := e.do(t, e.admin, "DELETE", "/v1/webhooks/"+created.Webhook.ID, "", nil); code != 200 {
		t.Fatalf("delete: %d %s", code, out)
	}
	if code, _, _ := e.do(t, e.admin, "DELETE", "/v1/webhooks/"+created.Webhook.ID, "", nil); code != 404 {
		t.Fatalf("second delete: %d", code)
	}
	audit, err := c.ListAuditEvents(context.Background(), &pb.ListAuditEventsRequest{Object: "webhook/" + created.Webhook.ID})
	if err != nil || len(audit.GetEvents()) != 3 || strings.Contains(audit.String(), secret) { // create, delete, refused delete
		t.Fatalf("audit: %v %v", audit, err)
	}
}
