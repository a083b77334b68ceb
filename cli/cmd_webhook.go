package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func init() {
	flagChoices["webhook add --event"] = func() []string { return webhookEventTypes }
	extraIDs["mtlsgate.v1.CreateWebhookResponse"] = func(m proto.Message) []string {
		return []string{m.(*pb.CreateWebhookResponse).GetWebhook().GetId()}
	}
	extraIDs["mtlsgate.v1.ListWebhooksResponse"] = func(m proto.Message) []string {
		var ids []string
		for _, w := range m.(*pb.ListWebhooksResponse).GetWebhooks() {
			ids = append(ids, w.GetId())
		}
		return ids
	}
	extraIDs["mtlsgate.v1.ListWebhookDeliveriesResponse"] = func(m proto.Message) []string {
		var ids []string
		for _, d := range m.(*pb.ListWebhookDeliveriesResponse).GetDeliveries() {
			ids = append(ids, d.GetId())
		}
		return ids
	}
}

// webhookAdd is "webhook add --url URL [--event TYPE ...] [--window 720h]
// [--secret S] [--description D]". The secret (given or picked) is printed
// once; -o id prints the new webhook's id only.
func webhookAdd(fs *flag.FlagSet) action {
	u := fs.String("url", "", "where events are posted: https://..., or http:// to a loopback address")
	var events stringList
	fs.Var(&events, "event", "an event type it receives (repeatable; default: all): "+strings.Join(webhookEventTypes, ", "))
	window := fs.Duration("window", 0, "how long before expiry objects are reported as expiring (1h to 8760h; default 720h)")
	secret := fs.String("secret", "", "the signing secret, 16 to 256 bytes (default: the server picks 32 random bytes)")
	desc := fs.String("description", "", "free text")
	return func(ctx context.Context, s *session, _ []string) error {
		if *u == "" {
			return usagef("--url is required")
		}
		w := &pb.Webhook{Url: *u, Events: events, Secret: *secret, Description: *desc}
		if *window != 0 {
			w.ExpiryWindow = durationpb.New(*window)
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.CreateWebhook(ctx, &pb.CreateWebhookRequest{Webhook: w})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, createdWebhookText))
	}
}

// webhookEventTypes are the event types, for help and completion
// (store.WebhookEventTypes, which the client does not import).
var webhookEventTypes = []string{"certificate.expiring", "client_ca.expiring", "server_certificate.expiring", "crl.expiring",
	"crl.fetch_failed", "certificate.issued", "certificate.renewed", "certificate.revoked", "certificate.denied", "certificate.bound"}

// createdWebhookText renders webhook add: the webhook and its secret.
func createdWebhookText(w io.Writer, resp *pb.CreateWebhookResponse) error {
	f := append(webhookFields(resp.GetWebhook()), field{key: "Secret", value: resp.GetSecret()})
	if err := writeFields(w, f); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nThe secret is shown only this once; give it to the receiver now (it verifies Mtlsgate-Signature with it).")
	return err
}

// webhookFields are a webhook's facts (never its secret: reads have none).
func webhookFields(h *pb.Webhook) []field {
	return []field{
		{key: "ID", value: h.GetId()},
		{key: "URL", value: h.GetUrl()},
		{key: "Events", value: webhookEvents(h)},
		{key: "Window", value: days(h.GetExpiryWindow().AsDuration())},
		{key: "Enabled", value: yesNo(h.GetEnabled())},
		{key: "Description", value: h.GetDescription()},
		{key: "Created by", value: h.GetCreatedBy()},
		{key: "Created at", value: fmtTime(h.GetCreatedAt())},
	}
}

func webhookEvents(h *pb.Webhook) string {
	if len(h.GetEvents()) == 0 {
		return "(all)"
	}
	return joinList(h.GetEvents())
}

// webhookList is "webhook list".
func webhookList(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListWebhooks(ctx, &pb.ListWebhooksRequest{})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, func(w io.Writer, r *pb.ListWebhooksResponse) error {
			rows := make([][]string, 0, len(r.GetWebhooks()))
			for _, h := range r.GetWebhooks() {
				rows = append(rows, []string{h.GetId(), h.GetUrl(), webhookEvents(h), days(h.GetExpiryWindow().AsDuration()),
					yesNo(h.GetEnabled()), h.GetDescription()})
			}
			return writeTable(w, []string{"ID", "URL", "EVENTS", "WINDOW", "ENABLED", "DESCRIPTION"}, rows)
		}))
	}
}

// webhookRemove is "webhook remove ID".
func webhookRemove(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.DeleteWebhook(ctx, &pb.DeleteWebhookRequest{Id: args[0]})
		if err != nil {
			return err
		}
		return s.printDone(resp, args[0], "Removed webhook "+args[0]+".")
	}
}

// webhookDeliveries is "webhook deliveries [--webhook ID] [--limit N]".
func webhookDeliveries(fs *flag.FlagSet) action {
	id := fs.String("webhook", "", "only this webhook's deliveries")
	limit := fs.Int("limit", 0, "at most this many, newest first (default 100, at most 1000)")
	return func(ctx context.Context, s *session, _ []string) error {
		if *limit < 0 || *limit > 1000 {
			return usagef("bad value %d for --limit: want 0 to 1000", *limit)
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListWebhookDeliveries(ctx, &pb.ListWebhookDeliveriesRequest{WebhookId: *id, Limit: int32(*limit)})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, deliveriesTable))
	}
}

// deliveriesTable renders the delivery log: one row per delivery, its
// last attempt's answer, and when the next is due.
func deliveriesTable(w io.Writer, r *pb.ListWebhookDeliveriesResponse) error {
	rows := make([][]string, 0, len(r.GetDeliveries()))
	for _, d := range r.GetDeliveries() {
		answer := "-"
		if d.GetLastAttemptAt() != nil {
			answer = strconv.Itoa(int(d.GetLastStatus()))
			if d.GetLastStatus() == 0 {
				answer = "no answer"
			}
			if d.GetLastError() != "" {
				answer += ": " + d.GetLastError()
			}
		}
		next := "-"
		if t := d.GetNextAttemptAt(); t != nil {
			next = t.AsTime().UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{d.GetId(), d.GetWebhookId(), d.GetEventType(), d.GetState(), strconv.Itoa(int(d.GetAttempts())),
			answer, fmtTime(d.GetCreatedAt()), next})
	}
	return writeTable(w, []string{"ID", "WEBHOOK", "EVENT", "STATE", "ATTEMPTS", "LAST ANSWER", "CREATED", "NEXT ATTEMPT"}, rows)
}
