package store_test

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// FuzzWebhookInput: whatever a caller sends as a webhook's URL, event
// types, window, secret and description, validation neither panics nor
// accepts a webhook that breaks its rules: an https URL (http only to
// loopback) that parses again to itself, known distinct event types, a
// window in bounds, a bounded printable secret and description.
func FuzzWebhookInput(f *testing.F) {
	f.Add("https://hooks.example.com/x", "certificate.denied,crl.expiring", int64(3600), "", "ops")
	f.Add("http://127.0.0.1:8080/h?x=1", "", int64(0), "0123456789abcdef", "")
	f.Add("http://169.254.169.254/", "crl.fetch_failed", int64(-1), "s", "\xff")
	f.Add("https://u:p@h/#f", "certificate.expiring,certificate.expiring", int64(1<<40), "mtlsgate-sealed:xxxxxxxxxxxxxxx", "")
	f.Add("HTTP://[::1]:0/", "x", int64(31536000), "\x00\x01", "d")
	f.Fuzz(func(t *testing.T, u, events string, window int64, secret, desc string) {
		in := &pb.Webhook{Url: u, Secret: secret, Description: desc}
		if events != "" {
			in.Events = strings.Split(events, ",")
		}
		if window != 0 {
			in.ExpiryWindow = durationpb.New(time.Duration(window) * time.Second)
		}
		w, err := store.CheckWebhook(in)
		if err != nil {
			var ve *store.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("refusal is not a ValidationError: %v", err)
			}
			return
		}
		p, err := url.Parse(w.GetUrl())
		if err != nil || p.String() != w.GetUrl() || p.User != nil || p.Fragment != "" ||
			!(p.Scheme == "https" || p.Scheme == "http" && (p.Hostname() == "localhost" || strings.HasPrefix(p.Hostname(), "127.") || p.Hostname() == "::1" || strings.HasPrefix(p.Hostname(), "::ffff:127.") || strings.EqualFold(p.Hostname(), "localhost"))) {
			t.Fatalf("accepted url %q", w.GetUrl())
		}
		for i, e := range w.GetEvents() {
			if !slices.Contains(store.WebhookEventTypes, e) || slices.Contains(w.GetEvents()[:i], e) {
				t.Fatalf("accepted events %q", w.GetEvents())
			}
		}
		if d := w.GetExpiryWindow().AsDuration(); d < store.MinExpiryWindow || d > store.MaxExpiryWindow {
			t.Fatalf("accepted window %s", d)
		}
		if s := w.GetSecret(); len(s) < store.MinWebhookSecret || len(s) > store.MaxWebhookSecret || strings.HasPrefix(s, "mtlsgate-sealed:") {
			t.Fatalf("accepted secret %q", s)
		}
		if len(w.GetDescription()) > store.MaxWebhookDescription {
			t.Fatalf("accepted a description of %d bytes", len(w.GetDescription()))
		}
	})
}
