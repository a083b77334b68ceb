package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// The webhooks page (docs/console.md, "Webhooks"; admins only): the
// webhooks with a create form whose answer shows the picked secret once,
// their removal through a confirmation, and the delivery log.
func init() {
	for name, t := range parseShared("webhooks", "webhook-created") {
		pages[name] = t
	}
}

func (c *Console) webhookRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /ui/webhooks", c.signedIn(c.webhookList))
	m.HandleFunc("POST /ui/webhooks", c.signedIn(c.webhookCreate))
	m.HandleFunc("GET /ui/webhooks/{id}/delete", c.signedIn(c.webhookDeleteConfirm))
	m.HandleFunc("POST /ui/webhooks/{id}/delete", c.signedIn(c.webhookDelete))
}

// deliveryLimit is how many deliveries the page lists, newest first.
const deliveryLimit = 100

// webhookRow is one webhook of the list.
type webhookRow struct {
	ID, URL, Events, Window, Description, Created string
	Enabled                                       bool
	DeletePath                                    string
}

// deliveryRow is one delivery of the log.
type deliveryRow struct {
	ID, Time, Event, Webhook, State, Last, Next string
	Attempts                                    int32
}

// webhooksData is the webhooks page's data.
type webhooksData struct {
	navFlags
	Rows       []webhookRow
	Deliveries []deliveryRow
	// Filter is the webhook the log is filtered by ("" : all).
	Filter, DeliveriesError string
	Notice, CreateCSRF      string
	Form                    webhookForm
	pageErr                 string
	// deleted is the ?deleted= id, noticed when the list bears it out.
	deleted string
	// Loaded: the API listed the webhooks (else the page shows its
	// refusal alone).
	Loaded bool
}

// webhookForm is the create form as posted, with its errors.
type webhookForm struct {
	URL, Window, Description string
	Events                   []string
	Errs                     formErrs
}

// eventChoice is one event type's checkbox.
type eventChoice struct {
	Type, ID string
	Checked  bool
}

// EventChoices are the documented event types, those posted checked.
func (f webhookForm) EventChoices() []eventChoice {
	var out []eventChoice
	for _, e := range store.WebhookEventTypes {
		out = append(out, eventChoice{Type: e, ID: "event-" + strings.NewReplacer(".", "-", "_", "-").Replace(e),
			Checked: slices.Contains(f.Events, e)})
	}
	return out
}

// Fields are the form's text fields.
func (f webhookForm) Fields() []textField {
	u := f.Errs.field("url", "webhook-url", "URL (https://, or http:// to a loopback address)", f.URL)
	w := f.Errs.field("window", "webhook-window", "Expiry window (a duration from 1h to 8760h; empty: 720h, 30 days)", f.Window)
	d := f.Errs.field("description", "webhook-description", "Description", f.Description)
	return []textField{u, w, d}
}

// webhookFields maps the API's field names to the form's.
var webhookFields = map[string]string{"url": "url", "events": "events", "expiry_window": "window",
	"description": "description", "webhook": "url"}

func (c *Console) webhookList(w http.ResponseWriter, r *http.Request, s *session) {
	d := webhooksData{Filter: r.URL.Query().Get("webhook"), deleted: r.URL.Query().Get("deleted")}
	c.webhookPage(w, r, s, http.StatusOK, d)
}

// webhookPage renders the page with the create form's state d.
func (c *Console) webhookPage(w http.ResponseWriter, r *http.Request, s *session, code int, d webhooksData) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.ListWebhooks(ctx, &pb.ListWebhooksRequest{})
	_, d.navFlags = c.roleOf(r, s)
	if err != nil {
		c.apiRefused(w, r, s, "Webhooks", "webhooks", "webhooks", d, err)
		return
	}
	d.Loaded = true
	urls := map[string]string{}
	for _, h := range resp.GetWebhooks() {
		d.Rows = append(d.Rows, webhookRowOf(h))
		urls[h.GetId()] = h.GetUrl()
	}
	if _, listed := urls[d.deleted]; d.deleted != "" && !listed {
		d.Notice = "Webhook " + d.deleted + " is deleted."
	}
	deliveries, err := c.api.ListWebhookDeliveries(ctx, &pb.ListWebhookDeliveriesRequest{WebhookId: d.Filter, Limit: deliveryLimit})
	if err != nil {
		d.DeliveriesError = apiMessage(err)
	}
	for _, dl := range deliveries.GetDeliveries() {
		d.Deliveries = append(d.Deliveries, deliveryRowOf(dl, urls))
	}
	v := signedInView(s, "Webhooks", "webhooks")
	v.Error = d.pageErr
	d.CreateCSRF = csrfToken(s, prefix+"webhooks")
	v.Data = d
	c.render(w, code, "webhooks", v)
}

func webhookRowOf(h *pb.Webhook) webhookRow {
	events := strings.Join(h.GetEvents(), ", ")
	if events == "" {
		events = "all"
	}
	created := stamp(h.GetCreatedAt())
	if h.GetCreatedBy() != "" {
		created += " by token " + h.GetCreatedBy()
	}
	return webhookRow{ID: h.GetId(), URL: h.GetUrl(), Events: events, Window: windowText(h.GetExpiryWindow().AsDuration()),
		Description: h.GetDescription(), Created: created, Enabled: h.GetEnabled(),
		DeletePath: prefix + "webhooks/" + url.PathEscape(h.GetId()) + "/delete"}
}

func deliveryRowOf(dl *pb.WebhookDelivery, urls map[string]string) deliveryRow {
	row := deliveryRow{ID: dl.GetId(), Time: stamp(dl.GetCreatedAt()), Event: dl.GetEventType(), State: dl.GetState(),
		Attempts: dl.GetAttempts(), Webhook: or(urls[dl.GetWebhookId()], dl.GetWebhookId()+" (deleted)"), Next: stamp(dl.GetNextAttemptAt())}
	switch {
	case dl.GetLastStatus() != 0 && dl.GetLastError() != "":
		row.Last = strconv.Itoa(int(dl.GetLastStatus())) + ": " + dl.GetLastError()
	case dl.GetLastStatus() != 0:
		row.Last = strconv.Itoa(int(dl.GetLastStatus()))
	default:
		row.Last = dl.GetLastError()
	}
	return row
}

// webhookCreatedData is the answer page of a create: the secret, once.
type webhookCreatedData struct {
	navFlags
	ID, URL, Secret string
}

// webhookCreate creates a webhook (CreateWebhook) with a secret the
// server picks, shown once on the answer page; a refusal is shown next
// to its field.
func (c *Console) webhookCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := webhookForm{URL: strings.TrimSpace(r.PostFormValue("url")), Window: strings.TrimSpace(r.PostFormValue("window")),
		Description: r.PostFormValue("description"), Events: r.PostForm["events"], Errs: formErrs{}}
	h := &pb.Webhook{Url: f.URL, Events: f.Events, Description: f.Description}
	if f.Window != "" {
		d, err := time.ParseDuration(f.Window)
		if err != nil {
			f.Errs["window"] = fmt.Sprintf("must be a duration such as 720h (or empty for 30 days), got %q", f.Window)
			c.webhookPage(w, r, s, http.StatusUnprocessableEntity, webhooksData{Form: f})
			return
		}
		h.ExpiryWindow = durationpb.New(d)
	}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.CreateWebhook(ctx, &pb.CreateWebhookRequest{Webhook: h})
	switch {
	case err == nil:
		_, nav := c.roleOf(r, s)
		v := signedInView(s, "Webhook created", "webhooks")
		v.Data = webhookCreatedData{navFlags: nav, ID: resp.GetWebhook().GetId(), URL: resp.GetWebhook().GetUrl(), Secret: resp.GetSecret()}
		c.render(w, http.StatusOK, "webhook-created", v)
	case c.apiFailed(w, r, err):
	default:
		d := webhooksData{Form: f}
		if field, msg := refusalField(err, webhookFields, "url"); field == "" {
			d.pageErr = msg
		} else {
			f.Errs[field] = msg
		}
		c.webhookPage(w, r, s, statusOf(err), d)
	}
}

// webhookDeleteConfirm asks before deleting a webhook.
func (c *Console) webhookDeleteConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.ListWebhooks(ctx, &pb.ListWebhooksRequest{})
	_, nav := c.roleOf(r, s)
	d := confirmData{navFlags: nav, Back: prefix + "webhooks", BackLabel: "Back to the webhooks"}
	if err != nil {
		c.apiRefused(w, r, s, "Delete a webhook", "confirm", "webhooks", d, err)
		return
	}
	code, pageErr := http.StatusNotFound, "No webhook has the id "+id+"."
	for _, h := range resp.GetWebhooks() {
		if h.GetId() != id {
			continue
		}
		row := webhookRowOf(h)
		code, pageErr = http.StatusOK, ""
		d.Action = row.DeletePath
		d.Facts = []fact{{Label: "Id", Value: row.ID, Code: true}, {Label: "URL", Value: row.URL, Code: true},
			{Label: "Events", Value: row.Events}, {Label: "Description", Value: or(row.Description, "—")}}
		d.Question = "Delete this webhook? Its pending deliveries are given up, and no event is sent to it again."
		d.Button, d.ButtonID = "Delete", "confirm-delete"
	}
	c.confirmPage(w, s, "Delete a webhook", "webhooks", code, d, pageErr)
}

// webhookDelete deletes the webhook (DeleteWebhook).
func (c *Console) webhookDelete(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	if _, err := c.api.DeleteWebhook(ctx, &pb.DeleteWebhookRequest{Id: id}); err != nil {
		c.actionRefused(w, r, s, "Delete a webhook", "webhooks", err, prefix+"webhooks")
		return
	}
	http.Redirect(w, r, prefix+"webhooks?deleted="+url.QueryEscape(id), http.StatusSeeOther)
}

// windowText is an expiry window as typed ("720h (30 days)").
func windowText(d time.Duration) string {
	if d%time.Hour != 0 {
		return d.String()
	}
	h := int(d / time.Hour)
	if h%24 == 0 {
		return fmt.Sprintf("%dh (%s)", h, plural(h/24, "day"))
	}
	return fmt.Sprintf("%dh", h)
}
