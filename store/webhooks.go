package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Event types a webhook may receive (docs/identities.md, "Notifications").
// The list is closed: a webhook naming another type is refused.
const (
	EventCertificateExpiring       = "certificate.expiring"
	EventClientCAExpiring          = "client_ca.expiring"
	EventServerCertificateExpiring = "server_certificate.expiring"
	EventCRLExpiring               = "crl.expiring"
	EventCRLFetchFailed            = "crl.fetch_failed"
	EventCertificateIssued         = "certificate.issued"
	EventCertificateRenewed        = "certificate.renewed"
	EventCertificateRevoked        = "certificate.revoked"
	EventCertificateDenied         = "certificate.denied"
	EventCertificateBound          = "certificate.bound"
)

// WebhookEventTypes lists every event type, in documentation order.
var WebhookEventTypes = []string{
	EventCertificateExpiring, EventClientCAExpiring, EventServerCertificateExpiring, EventCRLExpiring,
	EventCRLFetchFailed, EventCertificateIssued, EventCertificateRenewed, EventCertificateRevoked,
	EventCertificateDenied, EventCertificateBound,
}

// Bounds of a webhook's fields.
const (
	// MaxWebhookURL bounds the URL, in bytes.
	MaxWebhookURL = 2048
	// MaxWebhookEvents bounds the event types one webhook names.
	MaxWebhookEvents = 16
	// MaxWebhookDescription bounds the description, in bytes.
	MaxWebhookDescription = 1024
	// MinWebhookSecret and MaxWebhookSecret bound a secret the caller
	// gives, in bytes; a picked one is 32 random bytes in hex.
	MinWebhookSecret = 16
	MaxWebhookSecret = 256
	// MinExpiryWindow, MaxExpiryWindow and DefaultExpiryWindow bound how
	// long before expiry objects are reported as expiring.
	MinExpiryWindow     = time.Hour
	MaxExpiryWindow     = 365 * 24 * time.Hour
	DefaultExpiryWindow = 30 * 24 * time.Hour
)

// CheckWebhook validates a webhook as CreateWebhook receives it and
// returns the record to store: defaults applied, a secret picked when none
// was given, server-set fields cleared. It reads no State (the limit is
// checked by CreateWebhook) and does not modify in.
func CheckWebhook(in *pb.Webhook) (*pb.Webhook, error) {
	if in == nil {
		return nil, invalid("webhook", "must be set")
	}
	w := &pb.Webhook{Events: slices.Clone(in.GetEvents()), Secret: in.GetSecret(), Description: in.GetDescription()}
	u, err := checkWebhookURL(in.GetUrl())
	if err != nil {
		return nil, err
	}
	w.Url = u
	if err := checkWebhookEvents(w.Events); err != nil {
		return nil, err
	}
	window := DefaultExpiryWindow
	if d := in.GetExpiryWindow(); d != nil {
		if err := d.CheckValid(); err != nil {
			return nil, invalid("expiry_window", "%v", err)
		}
		if window = d.AsDuration(); window < MinExpiryWindow || window > MaxExpiryWindow {
			return nil, invalid("expiry_window", "%s is not between 1h and 8760h (365 days)", window)
		}
	}
	w.ExpiryWindow = durationpb.New(window)
	w.Enabled = proto.Bool(in.Enabled == nil || in.GetEnabled())
	if len(w.Description) > MaxWebhookDescription || !utf8.ValidString(w.Description) {
		return nil, invalid("description", "want valid UTF-8 of at most %d bytes (%d given)", MaxWebhookDescription, len(w.Description))
	}
	if w.Secret == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		w.Secret = hex.EncodeToString(b[:])
	} else if err := checkWebhookSecret(w.Secret); err != nil {
		return nil, err
	}
	return w, nil
}

// checkWebhookURL accepts an absolute https:// URL, or an http:// one to a
// loopback address (a receiver on the same machine): the request carries
// events about certificates, and an admin naming an internal plaintext
// service is what the loopback-only rule refuses (docs/security.md).
func checkWebhookURL(raw string) (string, error) {
	if raw == "" {
		return "", invalid("url", "must be set")
	}
	if len(raw) > MaxWebhookURL || !utf8.ValidString(raw) || strings.ContainsFunc(raw, isControl) {
		return "", invalid("url", "want at most %d bytes of printable text", MaxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalid("url", "%q does not parse: %w", raw, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", invalid("url", "%q: want an https:// URL (or http:// to a loopback address)", raw)
	case u.Host == "" || u.Hostname() == "":
		return "", invalid("url", "%q has no host", raw)
	case u.User != nil:
		return "", invalid("url", "%q carries credentials: the signature authenticates the sender", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", invalid("url", "%q has a fragment", raw)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return "", invalid("url", "%q: http:// only to a loopback address (127.0.0.1, ::1, localhost); use https://", raw)
	}
	if p := u.Port(); p != "" && (len(p) > 5 || strings.Trim(p, "0123456789") != "" || p == "0" || len(p) == 5 && p > "65535") {
		return "", invalid("url", "%q: port %q is not between 1 and 65535", raw, p)
	}
	return u.String(), nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkWebhookEvents refuses unknown, repeated or too many event types.
func checkWebhookEvents(events []string) error {
	if len(events) > MaxWebhookEvents {
		return invalid("events", "%d event types; at most %d", len(events), MaxWebhookEvents)
	}
	for i, e := range events {
		if !slices.Contains(WebhookEventTypes, e) {
			return invalid("events", "unknown event type %q (known: %s)", clipField(e, 64), strings.Join(WebhookEventTypes, ", "))
		}
		if slices.Contains(events[:i], e) {
			return invalid("events", "%q given twice", e)
		}
	}
	return nil
}

// checkWebhookSecret bounds a given secret: long enough to resist
// guessing, printable so that it can be typed into a receiver's config.
func checkWebhookSecret(s string) error {
	if len(s) < MinWebhookSecret || len(s) > MaxWebhookSecret {
		return invalid("secret", "want %d to %d bytes (%d given)", MinWebhookSecret, MaxWebhookSecret, len(s))
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, isControl) {
		return invalid("secret", "want printable text")
	}
	if strings.HasPrefix(s, sealedPrefix) {
		return invalid("secret", "may not start with %q", sealedPrefix)
	}
	return nil
}

// CreateWebhook validates in (CheckWebhook), stores it and returns the
// stored webhook without its secret, and the secret (the one given, or the
// one picked), which no read returns again. The input is not modified.
func (s *Store) CreateWebhook(ctx context.Context, a Actor, in *pb.Webhook) (*pb.Webhook, string, error) {
	w, err := CheckWebhook(in)
	if err != nil {
		return nil, "", err
	}
	w.Id, w.CreatedBy, w.CreatedAt = newID(), a.TokenID, timestamppb.New(s.now())
	_, err = s.commit(ctx, func(st *State) ([]Op, error) {
		if n := len(st.ext.webhooks); n >= s.limits.MaxWebhooks {
			return nil, fmt.Errorf("%w: the account already has %d webhooks (limits.max_webhooks %d)", ErrLimit, n, s.limits.MaxWebhooks)
		}
		op, err := s.putOp(webhookPrefix+w.GetId(), w)
		if err != nil {
			return nil, err
		}
		return s.auditWith(a, WebhookRef(w.GetId()), WebhookSummary(w), []Op{op})
	})
	if err != nil {
		return nil, "", err
	}
	return WebhookOut(w), w.GetSecret(), nil
}

// DeleteWebhook removes a webhook. Its pending deliveries are given up by
// the dispatcher; its delivery log stays until pruned.
func (s *Store) DeleteWebhook(ctx context.Context, a Actor, id string) error {
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		w := st.Webhook(id)
		if w == nil {
			return nil, notFound("webhook", id)
		}
		return s.auditWith(a, WebhookRef(id), WebhookSummary(w), []Op{{Key: webhookPrefix + id, Delete: true}})
	})
	return err
}

// WebhookOut returns a copy of w without its secret, as reads return it.
func WebhookOut(w *pb.Webhook) *pb.Webhook {
	out := proto.Clone(w).(*pb.Webhook)
	out.Secret = ""
	return out
}

// WebhookSummary describes w for the audit log: where it posts (the URL
// without its query, which may carry a receiver's token) and what.
func WebhookSummary(w *pb.Webhook) string {
	u := w.GetUrl()
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i] + "?…"
	}
	events := "all events"
	if len(w.GetEvents()) > 0 {
		events = strings.Join(w.GetEvents(), ",")
	}
	return fmt.Sprintf("url %s events %s window %s", u, events, w.GetExpiryWindow().AsDuration())
}
