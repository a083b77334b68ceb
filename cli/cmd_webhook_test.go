package cli

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

var sampleWebhook = &pb.Webhook{Id: "w-1", Url: "https://hooks.example.com/x", Events: []string{"certificate.denied"},
	ExpiryWindow: durationpb.New(720 * time.Hour), Enabled: proto.Bool(true), Description: "ops", CreatedBy: "tok-1"}

func init() {
	for m, a := range map[string]proto.Message{
		"CreateWebhook":         &pb.CreateWebhookResponse{Webhook: sampleWebhook, Secret: "HOOK-SECRET"},
		"ListWebhooks":          &pb.ListWebhooksResponse{Webhooks: []*pb.Webhook{sampleWebhook}},
		"DeleteWebhook":         &pb.DeleteWebhookResponse{},
		"ListWebhookDeliveries": &pb.ListWebhookDeliveriesResponse{Deliveries: []*pb.WebhookDelivery{{Id: "d-1", WebhookId: "w-1", State: "delivered"}}},
	} {
		moreAnswers[m] = a
	}
	for path, args := range map[string][]string{
		"webhook add": {"--url", "https://hooks.example.com/x"}, "webhook list": nil, "webhook remove": {"w-1"}, "webhook deliveries": nil,
	} {
		invocations[path] = args
	}
}

// TestWebhookAdd: the flags become the webhook sent; the secret is printed
// once with the table, never with -o id; no --url is a usage error that
// calls nothing.
func TestWebhookAdd(t *testing.T) {
	resp := &pb.CreateWebhookResponse{Webhook: sampleWebhook, Secret: "s3cr3t-s3cr3t-s3cr3t"}
	f := (&fakeAPI{}).on("CreateWebhook", reply(resp))
	code, out, errOut := runFake(f, testEnv{}, "webhook", "add", "--url", "https://hooks.example.com/x", "--event", "certificate.denied",
		"--event", "crl.expiring", "--window", "48h", "--secret", "given-secret-1234", "--description", "ops")
	if code != 0 || !strings.Contains(out, "s3cr3t-s3cr3t-s3cr3t") || !strings.Contains(out, "only this once") || !strings.Contains(out, "w-1") {
		t.Fatalf("exit %d %q %q", code, out, errOut)
	}
	want := &pb.Webhook{Url: "https://hooks.example.com/x", Events: []string{"certificate.denied", "crl.expiring"},
		ExpiryWindow: durationpb.New(48 * time.Hour), Secret: "given-secret-1234", Description: "ops"}
	if got := f.reqs[0].(*pb.CreateWebhookRequest).GetWebhook(); !proto.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	code, out, _ = runFake(f, testEnv{}, "-o", "id", "webhook", "add", "--url", "https://hooks.example.com/x")
	if code != 0 || out != "w-1\n" || f.reqs[1].(*pb.CreateWebhookRequest).GetWebhook().GetExpiryWindow() != nil {
		t.Fatalf("-o id: exit %d %q", code, out)
	}
	g := &fakeAPI{}
	if code, _, errOut := runFake(g, testEnv{}, "webhook", "add", "--event", "crl.expiring"); code != 2 || len(g.calls) > 0 {
		t.Fatalf("no --url: exit %d (%q), calls %v", code, errOut, g.calls)
	}
}

// TestWebhookListRemoveDeliveries: the list shows each webhook's URL and
// events; remove sends the id; deliveries pass the filter and limit and
// show each last answer; a bad limit is a usage error.
func TestWebhookListRemoveDeliveries(t *testing.T) {
	all := &pb.Webhook{Id: "w-2", Url: "http://127.0.0.1:9000/h", ExpiryWindow: durationpb.New(24 * time.Hour), Enabled: proto.Bool(false)}
	f := (&fakeAPI{}).on("ListWebhooks", reply(&pb.ListWebhooksResponse{Webhooks: []*pb.Webhook{sampleWebhook, all}}))
	code, out, errOut := runFake(f, testEnv{}, "webhook", "list")
	if code != 0 || !strings.Contains(out, "https://hooks.example.com/x") || !strings.Contains(out, "(all)") || !strings.Contains(out, "certificate.denied") {
		t.Fatalf("list: exit %d %q %q", code, out, errOut)
	}
	f = (&fakeAPI{}).on("DeleteWebhook", reply(&pb.DeleteWebhookResponse{}))
	if code, out, _ := runFake(f, testEnv{}, "webhook", "remove", "w-1"); code != 0 || f.reqs[0].(*pb.DeleteWebhookRequest).GetId() != "w-1" || !strings.Contains(out, "Removed webhook w-1") {
		t.Fatalf("remove: exit %d %q", code, out)
	}
	log := &pb.ListWebhookDeliveriesResponse{Deliveries: []*pb.WebhookDelivery{
		{Id: "d-2", WebhookId: "w-1", EventType: "crl.expiring", State: "pending", Attempts: 1, LastStatus: 503, LastError: "503 Service Unavailable",
			LastAttemptAt: ts("2026-05-01T00:00:00Z"), NextAttemptAt: ts("2026-05-01T00:01:00Z")},
		{Id: "d-1", WebhookId: "w-1", EventType: "certificate.denied", State: "failed", Attempts: 8, LastError: "no answer within 10s",
			LastAttemptAt: ts("2026-05-01T00:00:00Z")},
	}}
	f = (&fakeAPI{}).on("ListWebhookDeliveries", reply(log))
	code, out, errOut = runFake(f, testEnv{}, "webhook", "deliveries", "--webhook", "w-1", "--limit", "5")
	if code != 0 || !strings.Contains(out, "503: 503 Service Unavailable") || !strings.Contains(out, "no answer: no answer within 10s") ||
		!strings.Contains(out, "2026-05-01T00:01:00Z") {
		t.Fatalf("deliveries: exit %d %q %q", code, out, errOut)
	}
	if r := f.reqs[0].(*pb.ListWebhookDeliveriesRequest); r.GetWebhookId() != "w-1" || r.GetLimit() != 5 {
		t.Fatalf("sent %v", r)
	}
	g := &fakeAPI{}
	if code, _, _ := runFake(g, testEnv{}, "webhook", "deliveries", "--limit", "5000"); code != 2 || len(g.calls) > 0 {
		t.Fatalf("--limit 5000: exit %d, calls %v", code, g.calls)
	}
}

// TestWebhookCompletion: the completion scripts offer the webhook
// commands and the event types after --event.
func TestWebhookCompletion(t *testing.T) {
	code, out, errOut := runFake(&fakeAPI{}, testEnv{}, "completion", "bash")
	if code != 0 || !strings.Contains(out, "deliveries") || !strings.Contains(out, "certificate.denied") || !strings.Contains(out, "server_certificate.expiring") {
		t.Fatalf("exit %d %q", code, errOut)
	}
}
