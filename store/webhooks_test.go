package store_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/etcd"
)

// TestCreateWebhookRefusesBadInput: every rule of a webhook's fields,
// each refusal naming its field and changing nothing.
func TestCreateWebhookRefusesBadInput(t *testing.T) {
	s := newStore(t, store.Limits{})
	ok := func(mod func(w *pb.Webhook)) *pb.Webhook {
		w := &pb.Webhook{Url: "https://hooks.example.com/mtlsgate", Events: []string{store.EventCertificateDenied}}
		mod(w)
		return w
	}
	cases := []struct {
		name, field string
		in          *pb.Webhook
	}{
		{"nil", "webhook", nil},
		{"no url", "url", ok(func(w *pb.Webhook) { w.Url = "" })},
		{"relative", "url", ok(func(w *pb.Webhook) { w.Url = "/hook" })},
		{"ftp", "url", ok(func(w *pb.Webhook) { w.Url = "ftp://hooks.example.com/x" })},
		{"http elsewhere", "url", ok(func(w *pb.Webhook) { w.Url = "http://hooks.example.com/x" })},
		{"http private", "url", ok(func(w *pb.Webhook) { w.Url = "http://10.0.0.1/x" })},
		{"http metadata", "url", ok(func(w *pb.Webhook) { w.Url = "http://169.254.169.254/latest" })},
		{"credentials", "url", ok(func(w *pb.Webhook) { w.Url = "https://u:p@hooks.example.com/x" })},
		{"fragment", "url", ok(func(w *pb.Webhook) { w.Url = "https://hooks.example.com/x#f" })},
		{"control", "url", ok(func(w *pb.Webhook) { w.Url = "https://hooks.example.com/\nx" })},
		{"bad port", "url", ok(func(w *pb.Webhook) { w.Url = "https://hooks.example.com:70000/x" })},
		{"long url", "url", ok(func(w *pb.Webhook) { w.Url = "https://hooks.example.com/" + strings.Repeat("a", store.MaxWebhookURL) })},
		{"unknown event", "events", ok(func(w *pb.Webhook) { w.Events = []string{"certificate.eaten"} })},
		{"repeated event", "events", ok(func(w *pb.Webhook) { w.Events = []string{"crl.expiring", "crl.expiring"} })},
		{"too many events", "events", ok(func(w *pb.Webhook) { w.Events = make([]string, store.MaxWebhookEvents+1) })},
		{"short window", "expiry_window", ok(func(w *pb.Webhook) { w.ExpiryWindow = durationpb.New(59 * time.Minute) })},
		{"long window", "expiry_window", ok(func(w *pb.Webhook) { w.ExpiryWindow = durationpb.New(366 * 24 * time.Hour) })},
		{"bad window", "expiry_window", ok(func(w *pb.Webhook) { w.ExpiryWindow = &durationpb.Duration{Seconds: 3600, Nanos: -1} })},
		{"long description", "description", ok(func(w *pb.Webhook) { w.Description = strings.Repeat("d", store.MaxWebhookDescription+1) })},
		{"bad utf-8", "description", ok(func(w *pb.Webhook) { w.Description = "\xff" })},
		{"short secret", "secret", ok(func(w *pb.Webhook) { w.Secret = "short" })},
		{"long secret", "secret", ok(func(w *pb.Webhook) { w.Secret = strings.Repeat("s", store.MaxWebhookSecret+1) })},
		{"control secret", "secret", ok(func(w *pb.Webhook) { w.Secret = strings.Repeat("s", 20) + "\x00" })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.Current()
			_, _, err := s.CreateWebhook(t.Context(), admin, c.in)
			var ve *store.ValidationError
			if !errors.As(err, &ve) || ve.Field != c.field || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("err %v, want a refusal of field %s", err, c.field)
			}
			unchanged(t, s, before)
		})
	}
}

// TestCreateWebhookDefaultsAndSecret: defaults applied, a picked secret
// returned once and held sealed (the State has it, reads do not), the
// write audited without the secret, the limit enforced, delete audited.
func TestCreateWebhookDefaultsAndSecret(t *testing.T) {
	s := newStore(t, store.Limits{MaxWebhooks: 2})
	for _, u := range []string{"http://127.0.0.1:9/h", "http://[::1]/h", "http://localhost:8080/h?token=abc"} {
		if _, err := store.CheckWebhook(&pb.Webhook{Url: u}); err != nil {
			t.Fatalf("%s refused: %v", u, err)
		}
	}
	w, secret, err := s.CreateWebhook(t.Context(), admin, &pb.Webhook{Url: "https://hooks.example.com/x?token=abc", Description: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 64 || strings.Trim(secret, "0123456789abcdef") != "" {
		t.Fatalf("picked secret %q, want 64 hex digits", secret)
	}
	if w.GetSecret() != "" || !w.GetEnabled() || w.GetExpiryWindow().AsDuration() != store.DefaultExpiryWindow || w.GetCreatedBy() != admin.TokenID {
		t.Fatalf("created %v", w)
	}
	if got := s.Current().Webhook(w.GetId()); got.GetSecret() != secret {
		t.Fatalf("the State holds secret %q", got.GetSecret())
	}
	given := strings.Repeat("k", 24)
	w2, secret2, err := s.CreateWebhook(t.Context(), admin, &pb.Webhook{Url: "https://b.example.com/", Secret: given, Enabled: proto.Bool(false)})
	if err != nil || secret2 != given || w2.GetEnabled() {
		t.Fatalf("second: %v %q %v", w2, secret2, err)
	}
	before := s.Current()
	if _, _, err := s.CreateWebhook(t.Context(), admin, &pb.Webhook{Url: "https://c.example.com/"}); !errors.Is(err, store.ErrLimit) {
		t.Fatalf("third: %v, want ErrLimit", err)
	}
	unchanged(t, s, before)
	if err := s.DeleteWebhook(t.Context(), admin, "feedfacefeedface"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
	if err := s.DeleteWebhook(t.Context(), admin, w2.GetId()); err != nil || s.Current().Webhook(w2.GetId()) != nil {
		t.Fatalf("delete: %v", err)
	}
	evs, _, err := s.ListAudit(t.Context(), store.AuditQuery{Object: "webhook/"})
	if err != nil || len(evs) != 3 { // two creates, one delete
		t.Fatalf("audit: %d events, %v", len(evs), err)
	}
	for _, ev := range evs {
		if strings.Contains(ev.GetMessage(), secret) || strings.Contains(ev.GetMessage(), given) || strings.Contains(ev.GetMessage(), "abc") {
			t.Fatalf("audit message shows a secret: %q", ev.GetMessage())
		}
	}
}

// TestWebhookLog: deliveries listed newest first, by webhook, with a
// limit; rewriting one keeps one record; pending ones found; pruning by
// count, age and notice time; the audit cursor and the audit events after
// it; and none of it moves the configuration's revision.
func TestWebhookLog(t *testing.T) {
	open := map[string]func(t *testing.T) store.Backend{
		"bolt": func(t *testing.T) store.Backend { return openBackend(t, t.TempDir()) },
		"etcd": func(t *testing.T) store.Backend {
			c := etcdtest.Start(t, etcdtest.Options{})
			b, err := etcd.Open(t.Context(), etcd.Options{Endpoints: c.Endpoints(), TLS: c.ClientTLS(), Prefix: "/hooklog/"})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
	for _, name := range []string{"bolt", "etcd"} {
		t.Run(name, func(t *testing.T) {
			clock := time.Now().UTC()
			s, err := store.Open(t.Context(), open[name](t), store.Options{Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			testWebhookLog(t, s, &clock)
		})
	}
}

func testWebhookLog(t *testing.T, s *store.Store, now *time.Time) {
	clock := *now
	rev := s.Current().Rev
	var ids []string
	for i := range 5 {
		clock = clock.Add(time.Second)
		*now = clock
		d := &pb.WebhookDelivery{Id: s.NewWebhookDeliveryID(), WebhookId: fmt.Sprintf("w%d", i%2), State: store.DeliveryPending}
		if i < 2 {
			d.State = store.DeliveryDelivered
		}
		ids = append(ids, d.GetId())
		if err := s.WriteWebhookLog(t.Context(), store.WebhookWrite{Deliveries: []*pb.WebhookDelivery{d}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListWebhookDeliveries(t.Context(), "w0", 2)
	if err != nil || len(got) != 2 || got[0].GetId() != ids[4] || got[1].GetId() != ids[2] {
		t.Fatalf("list w0: %v %v", got, err)
	}
	pending, err := s.PendingWebhookDeliveries(t.Context())
	if err != nil || len(pending) != 3 || pending[0].GetId() != ids[2] {
		t.Fatalf("pending: %v %v", pending, err)
	}
	n := store.WebhookNotice{Webhook: "w0", Key: "k", Until: clock.Add(time.Hour)}
	old := store.WebhookNotice{Webhook: "w0", Key: "gone", Until: clock.Add(-time.Hour)}
	if err := s.WriteWebhookLog(t.Context(), store.WebhookWrite{Notices: []store.WebhookNotice{n, old}, Cursor: "c1"}); err != nil {
		t.Fatal(err)
	}
	if c, ok, err := s.WebhookAuditCursor(t.Context()); c != "c1" || !ok || err != nil {
		t.Fatalf("cursor %q %v %v", c, ok, err)
	}
	// Keep 3, none older than the second delivery: ids[0] and ids[1] go,
	// and the passed notice.
	pruned, err := s.PruneWebhookLog(t.Context(), 3, clock.Add(-10*time.Second), clock)
	if err != nil || pruned != 3 {
		t.Fatalf("pruned %d, %v", pruned, err)
	}
	all, _ := s.ListWebhookDeliveries(t.Context(), "", 0)
	notices, _ := s.WebhookNotices(t.Context())
	if len(all) != 3 || all[2].GetId() != ids[2] || len(notices) != 1 || notices[n.ID()].IsZero() {
		t.Fatalf("after prune: %d deliveries, notices %v", len(all), notices)
	}
	if s.Current().Rev != rev {
		t.Fatalf("the delivery log moved the configuration revision from %d to %d", rev, s.Current().Rev)
	}
	big := make([]*pb.WebhookDelivery, store.MaxWebhookTxnOps+1)
	for i := range big {
		big[i] = &pb.WebhookDelivery{Id: fmt.Sprint(i)}
	}
	if err := s.WriteWebhookLog(t.Context(), store.WebhookWrite{Deliveries: big}); err == nil {
		t.Fatal("an oversized write was accepted")
	}
}

// TestAuditEventsAfter: the events after a cursor and before a time,
// oldest first.
func TestAuditEventsAfter(t *testing.T) {
	s := newStore(t, store.Limits{})
	start := store.AuditCursorAt(time.Now().Add(-time.Second))
	for i := range 3 {
		if _, _, err := s.CreateWebhook(t.Context(), admin, &pb.Webhook{Url: fmt.Sprintf("https://h%d.example.com/", i)}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.AuditEventsAfter(t.Context(), start, time.Now().Add(time.Second), 10)
	if err != nil || len(evs) != 3 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	rest, err := s.AuditEventsAfter(t.Context(), evs[0].GetId(), time.Now().Add(time.Second), 10)
	if err != nil || len(rest) != 2 || rest[0].GetId() != evs[1].GetId() {
		t.Fatalf("after the first: %v %v", rest, err)
	}
	if none, _ := s.AuditEventsAfter(t.Context(), start, time.Unix(0, 0), 10); len(none) != 0 {
		t.Fatalf("events before 1970: %v", none)
	}
}

// TestWebhookDeliveriesPaged: a filter that matches only old deliveries
// reads back through batches and still returns the newest matches first.
func TestWebhookDeliveriesPaged(t *testing.T) {
	var tick atomic.Int64 // a clock that moves a microsecond a reading: ids in order
	base := time.Now()
	s, err := store.Open(t.Context(), openBackend(t, t.TempDir()), store.Options{Now: func() time.Time {
		return base.Add(time.Duration(tick.Add(1)) * time.Microsecond)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var old []string
	for range 3 {
		var w store.WebhookWrite
		for range store.MaxWebhookTxnOps {
			d := &pb.WebhookDelivery{Id: s.NewWebhookDeliveryID(), WebhookId: "w-b"}
			if len(old) < 5 {
				d.WebhookId = "w-a"
				old = append(old, d.GetId())
			}
			w.Deliveries = append(w.Deliveries, d)
		}
		if err := s.WriteWebhookLog(t.Context(), w); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListWebhookDeliveries(t.Context(), "w-a", 3)
	if err != nil || len(got) != 3 || got[0].GetId() != old[4] || got[2].GetId() != old[2] {
		t.Fatalf("w-a: %v %v, want %v newest first", got, err, old[2:])
	}
	if all, err := s.ListWebhookDeliveries(t.Context(), "", 1000); err != nil || len(all) != 300 || all[0].GetId() <= all[299].GetId() {
		t.Fatalf("all: %d %v", len(all), err)
	}
}
