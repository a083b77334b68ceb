package webhook_test

import (
	"context"
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
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/bolt"
	"github.com/mtlsgate/mtlsgate/webhook"
)

// received is one request a receiver got.
type received struct {
	delivery, typ string
	event         map[string]any
}

// receiver is a webhook receiver on loopback that checks every request
// with its own HMAC code (not the package's) and answers with status(n)
// for the n-th request (1-based).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	status func(n int) int
	mu     sync.Mutex
	got    []received
}

func newReceiver(t *testing.T, secret string, status func(n int) int) *receiver {
	r := &receiver{t: t, secret: secret, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.t.Errorf("read body: %v", err)
		return
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("%s with content type %q", req.Method, req.Header.Get("Content-Type"))
	}
	if err := verify(r.secret, req.Header.Get("Mtlsgate-Signature"), body, time.Now()); err != nil {
		r.t.Errorf("signature: %v", err)
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		r.t.Errorf("body %q: %v", body, err)
	}
	if ev["type"] != req.Header.Get("Mtlsgate-Event") {
		r.t.Errorf("body type %v, header %q", ev["type"], req.Header.Get("Mtlsgate-Event"))
	}
	r.mu.Lock()
	r.got = append(r.got, received{delivery: req.Header.Get("Mtlsgate-Delivery"), typ: req.Header.Get("Mtlsgate-Event"), event: ev})
	n := len(r.got)
	r.mu.Unlock()
	w.WriteHeader(r.status(n))
}

// requests returns what the receiver got so far.
func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// verify is a receiver's check, written from the documentation: the
// header is t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, and a
// timestamp more than five minutes off is refused.
func verify(secret, header string, body []byte, now time.Time) error {
	parts := map[string]string{}
	for _, p := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("header %q", header)
		}
		parts[k] = v
	}
	ts, err := strconv.ParseInt(parts["t"], 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp in %q: %v", header, err)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %d is %s off", ts, d)
	}
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.%s", ts, body)
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(parts["v1"])) {
		return fmt.Errorf("v1 %q, want %q", parts["v1"], want)
	}
	return nil
}

// openStore opens a bbolt store with a keyring.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	b, err := bolt.Open(filepath.Join(t.TempDir(), "test.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.Context(), b, store.Options{Keyring: seal.MustGenerate()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fast are dispatcher options that make a test quick.
func fast(s *store.Store) webhook.Options {
	return webhook.Options{Store: s, Period: 20 * time.Millisecond, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		AuditSettle: time.Nanosecond, Timeout: 5 * time.Second}
}

// running is a dispatcher running under the store's election.
type running struct {
	scans  atomic.Int64
	cancel context.CancelFunc
	wg     sync.WaitGroup
	d      *webhook.Dispatcher
}

// start runs a dispatcher with o until stop or the test's end, and waits
// for its first scan when wait is set (a leader's; a follower never scans).
func start(t *testing.T, o webhook.Options, wait bool) *running {
	t.Helper()
	r := &running{d: webhook.New(o)}
	webhook.SetAfterScan(r.d, func() { r.scans.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Go(func() { o.Store.Lead(ctx, "webhooks", r.d.Run) })
	t.Cleanup(r.stop)
	if wait {
		r.waitScans(t, 1)
	}
	return r
}

func (r *running) stop() {
	r.cancel()
	r.wg.Wait()
	r.d.Close()
}

// waitScans waits until n more scans have run.
func (r *running) waitScans(t *testing.T, n int64) {
	t.Helper()
	target := r.scans.Load() + n
	eventually(t, fmt.Sprintf("%d scans", n), func() bool { return r.scans.Load() >= target })
}

// eventually waits until cond holds, failing the test after 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// finished waits until the store's log holds n deliveries no longer
// pending and returns the log, newest first.
func finished(t *testing.T, s *store.Store, n int) []*pb.WebhookDelivery {
	t.Helper()
	var log []*pb.WebhookDelivery
	eventually(t, fmt.Sprintf("%d finished deliveries", n), func() bool {
		var err error
		if log, err = s.ListWebhookDeliveries(context.Background(), "", 0); err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, d := range log {
			if d.GetState() != store.DeliveryPending {
				done++
			}
		}
		return done >= n
	})
	return log
}

// addWebhook creates a webhook to url for events with secret.
func addWebhook(t *testing.T, s *store.Store, url, secret string, events ...string) *pb.Webhook {
	t.Helper()
	w, _, err := s.CreateWebhook(t.Context(), store.Actor{TokenID: "admin", Action: "CreateWebhook"},
		&pb.Webhook{Url: url, Secret: secret, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// deny adds a deny entry for a fingerprint made of b, as the API does.
func deny(t *testing.T, s *store.Store, b string) *pb.DenyEntry {
	t.Helper()
	e, err := s.CreateDenyEntry(t.Context(), store.Actor{TokenID: "tok1", Action: "CreateDenyEntry"},
		&pb.DenyEntry{Sha256Fingerprint: strings.Repeat(b, 32), Comment: "lost laptop"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
