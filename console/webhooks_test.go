package console_test

import (
	"context"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// webhooksNow are the webhooks in the store.
func webhooksNow(r *running) []*pb.Webhook { return r.srv.Store().Current().Webhooks() }

// TestWebhookCreate: an admin adds a webhook with two event types, a
// window and a description; the answer page shows the picked secret, and
// no page shows it again; the list shows the webhook.
func TestWebhookCreate(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	page := u.getOK("/ui/webhooks")
	for _, e := range store.WebhookEventTypes {
		if !strings.Contains(page, `value="`+e+`"`) {
			t.Errorf("no checkbox for %s", e)
		}
	}
	code, body := u.formPost("/ui/webhooks", url.Values{"url": {"https://hooks.example.com/mtlsgate?token=x"},
		"events": {"certificate.issued", "certificate.revoked"}, "window": {"336h"}, "description": {"PKI on-call"}})
	m := regexp.MustCompile(`id="secret" type="text" readonly value="([0-9a-f]{64})"`).FindStringSubmatch(body)
	if code != 200 || m == nil || !strings.Contains(body, "This is the only time the secret is shown.") {
		t.Fatalf("create: %d, secret shown: %v", code, m != nil)
	}
	hooks := webhooksNow(r)
	if len(hooks) != 1 || strings.Join(hooks[0].GetEvents(), ",") != "certificate.issued,certificate.revoked" ||
		hooks[0].GetExpiryWindow().AsDuration() != 336*time.Hour || hooks[0].GetDescription() != "PKI on-call" {
		t.Fatalf("stored %v", hooks)
	}
	list := html.UnescapeString(u.getOK("/ui/webhooks"))
	row := rowOf(list, "webhook-"+hooks[0].GetId())
	for _, want := range []string{"https://hooks.example.com/mtlsgate?token=x", "certificate.issued, certificate.revoked", "336h (14 days)", "PKI on-call", "yes"} {
		if !strings.Contains(row, want) {
			t.Errorf("the row lacks %q: %s", want, row)
		}
	}
	if strings.Contains(list, m[1]) {
		t.Error("the list shows the secret again")
	}
	if code, _ := u.formPost("/ui/webhooks", url.Values{"url": {"https://all.example.com/"}}); code != 200 {
		t.Fatalf("create for every event: %d", code)
	}
	if list := u.getOK("/ui/webhooks"); !strings.Contains(list, `<td class="events">all</td>`) {
		t.Error("a webhook naming no event is not listed as receiving all")
	}
}

// TestWebhookRefused: what the API refuses is shown next to its field,
// with what was typed kept; nothing is created.
func TestWebhookRefused(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	for _, c := range []struct {
		form     url.Values
		id, want string
	}{
		{url.Values{"url": {"http://hooks.example.com/"}, "description": {"kept"}}, "webhook-url", "http:// only to a loopback address"},
		{url.Values{"url": {""}}, "webhook-url", "url: must be set"},
		{url.Values{"url": {"https://h.example.com/"}, "window": {"soon"}}, "webhook-window", "must be a duration"},
		{url.Values{"url": {"https://h.example.com/"}, "window": {"10m"}}, "webhook-window", "expiry_window: 10m0s is not between 1h and 8760h"},
		{url.Values{"url": {"https://h.example.com/"}, "events": {"certificate.eaten"}}, "webhook-events", `unknown event type "certificate.eaten"`},
		{url.Values{"url": {"https://h.example.com/"}, "description": {strings.Repeat("d", 1025)}}, "webhook-description", "description: want valid UTF-8"},
	} {
		code, body := u.formPost("/ui/webhooks", c.form)
		if got := fieldError(body, c.id); code != 422 || !strings.Contains(got, c.want) || !strings.Contains(body, `value="`+html.EscapeString(c.form.Get("url"))+`"`) {
			t.Errorf("%v: %d, %s error %q, want %q", c.form, code, c.id, got, c.want)
		}
	}
	if n := len(webhooksNow(r)); n != 0 {
		t.Errorf("%d webhooks stored after refusals", n)
	}
}

// TestWebhookDeleteAndLog: the delivery log lists the deliveries
// (written to the store as the dispatcher does) with their state,
// attempts and last answer, filtered by webhook; a webhook is deleted
// through its confirmation (a GET changes nothing).
func TestWebhookDeleteAndLog(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	u.formPost("/ui/webhooks", url.Values{"url": {"https://a.example.com/"}})
	u.formPost("/ui/webhooks", url.Values{"url": {"https://b.example.com/"}})
	hooks := webhooksNow(r)
	a, b := hooks[0], hooks[1]
	if a.GetUrl() != "https://a.example.com/" {
		a, b = b, a
	}
	st := r.srv.Store()
	now := time.Now()
	err := st.WriteWebhookLog(context.Background(), store.WebhookWrite{Deliveries: []*pb.WebhookDelivery{
		{Id: st.NewWebhookDeliveryID(), WebhookId: a.GetId(), EventId: "e1", EventType: "certificate.issued", CreatedAt: timestamppb.New(now),
			Attempts: 1, LastStatus: 204, State: store.DeliveryDelivered},
		{Id: st.NewWebhookDeliveryID(), WebhookId: b.GetId(), EventId: "e2", EventType: "crl.expiring", CreatedAt: timestamppb.New(now),
			Attempts: 8, LastStatus: 500, LastError: "receiver answered 500", State: store.DeliveryFailed},
	}})
	if err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(u.getOK("/ui/webhooks"))
	for _, want := range []string{"certificate.issued", "https://a.example.com/", "delivered", "<td>1</td>", "<td>204</td>",
		"crl.expiring", "failed", "<td>8</td>", "500: receiver answered 500"} {
		if !strings.Contains(section(page, "delivery-list"), want) {
			t.Errorf("the delivery log lacks %q", want)
		}
	}
	if log := section(u.getOK("/ui/webhooks?webhook="+b.GetId()), "delivery-list"); strings.Contains(log, "certificate.issued") || !strings.Contains(log, "crl.expiring") {
		t.Error("the filter by webhook does not hold")
	}
	if p := u.getOK("/ui/webhooks/" + a.GetId() + "/delete"); !strings.Contains(p, `id="confirm-delete"`) || len(webhooksNow(r)) != 2 {
		t.Fatal("the confirmation lacks its button, or deleted on GET")
	}
	code, loc := u.formPost("/ui/webhooks/"+a.GetId()+"/delete", url.Values{})
	if code != 303 || len(webhooksNow(r)) != 1 || webhooksNow(r)[0].GetId() != b.GetId() {
		t.Fatalf("delete: %d %s", code, loc)
	}
	if p := u.getOK(loc); !strings.Contains(p, "Webhook "+a.GetId()+" is deleted.") {
		t.Error("no notice of the delete")
	}
	if code, _ := u.send("GET", "/ui/webhooks/"+a.GetId()+"/delete", "", nil); code != 404 {
		t.Errorf("the confirmation of a deleted webhook: %d", code)
	}
}

// TestWebhookAdminsOnly: the navigation offers Webhooks to admins only;
// another role opening the page gets the API's refusal and no form, and
// a forged create is refused.
func TestWebhookAdminsOnly(t *testing.T) {
	r, _ := siteSetup(t)
	if p := newUIClient(t, r, r.admin).getOK("/ui/identities"); !strings.Contains(p, `href="/ui/webhooks"`) {
		t.Error("no Webhooks entry for an admin")
	}
	u := newUIClient(t, r, tokenOf(t, r, pb.Role_ROLE_CA_MANAGER))
	if p := u.getOK("/ui/identities"); strings.Contains(p, `href="/ui/webhooks"`) {
		t.Error("a CA manager is offered the Webhooks entry")
	}
	code, body := u.send("GET", "/ui/webhooks", "", nil)
	if code != 403 || strings.Contains(body, `id="webhook-create"`) || !strings.Contains(body, "may not call ListWebhooks") {
		t.Errorf("a CA manager's page: %d", code)
	}
	if code, _ := u.formPost("/ui/webhooks", url.Values{"url": {"https://h.example.com/"}}); code != 403 || len(webhooksNow(r)) != 0 {
		t.Errorf("a CA manager's forged create: %d", code)
	}
}
