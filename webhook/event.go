// Package webhook posts events to the operator's receivers
// (docs/identities.md, "Notifications"): certificates, client CAs, server
// certificates and CRLs nearing expiry, CRL fetch failures, and
// certificates issued, renewed, revoked, denied and bound (from the audit
// log). Each delivery is an HTTP POST of one JSON event signed with
// HMAC-SHA256 under the webhook's secret, retried with exponential
// backoff, and recorded in the store's delivery log. Only the elected
// replica runs the Dispatcher.
package webhook

import (
	"encoding/json"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Event is what a delivery's body holds, as JSON.
type Event struct {
	// ID identifies the event: the same for every webhook it goes to,
	// so that a receiver can drop a repeat.
	ID string `json:"id"`
	// Type is one of store.WebhookEventTypes.
	Type string `json:"type"`
	// Time is when it happened (the audit event's time; for an expiry,
	// when it was noticed), RFC 3339 in UTC.
	Time string `json:"time"`
	// Object is the reference of the object concerned (store.Ref).
	Object string `json:"object"`
	// Details depend on the type (docs/identities.md).
	Details map[string]any `json:"details"`
}

// Body returns the event's JSON.
func (e Event) Body() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err) // strings, numbers and maps of them always marshal
	}
	return b
}

// auditTypes maps the API actions whose successful audit events become
// events to their event types.
var auditTypes = map[string]string{
	"IssueClientCertificate":  store.EventCertificateIssued,
	"RenewClientCertificate":  store.EventCertificateRenewed,
	"RevokeClientCertificate": store.EventCertificateRevoked,
	"RevokeNodeCertificate":   store.EventCertificateRevoked,
	"CreateDenyEntry":         store.EventCertificateDenied,
	"BindCertificate":         store.EventCertificateBound,
}

// fromAudit returns the event an audit event stands for; ok is false for
// an action that makes none, or a write that was refused.
func fromAudit(ev *pb.AuditEvent, id string) (Event, bool) {
	typ, ok := auditTypes[ev.GetAction()]
	if !ok || ev.GetResult() != store.AuditResultOK {
		return Event{}, false
	}
	return Event{ID: id, Type: typ, Time: rfc3339(ev.GetTime().AsTime()), Object: ev.GetObject(), Details: map[string]any{
		"action": ev.GetAction(), "object": ev.GetObject(), "actor": ev.GetActor(), "message": ev.GetMessage(),
		"audit_event_id": ev.GetId(),
	}}, true
}

// rfc3339 formats t in UTC to the second.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// wants reports whether w receives events of typ: enabled, and naming typ
// or no type at all.
func wants(w *pb.Webhook, typ string) bool {
	if !w.GetEnabled() {
		return false
	}
	if len(w.GetEvents()) == 0 {
		return true
	}
	for _, e := range w.GetEvents() {
		if e == typ {
			return true
		}
	}
	return false
}
