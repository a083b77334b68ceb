package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestIdentitiesOverHTTP: the identity routes of docs/api.md: create,
// bind a PEM body as-is, read it back with the sites whose pins name it,
// disable, unbind by fingerprint in the path, delete; the account's
// mapping; refusals name their field.
func TestIdentitiesOverHTTP(t *testing.T) {
	e := start(t)
	c := e.client(e.admin)
	ctx := context.Background()
	site := siteReq(t, "app.example.com")
	site.Site.Settings = &pb.ClientCertSettings{Pins: []*pb.Pin{{Sha256Fingerprint: strings.Repeat("cd", 32), Identity: "alice"}}}
	if _, err := c.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	do := func(method, path, ctype, body string, want int) string {
		t.Helper()
		code, _, out := e.do(t, e.admin, method, path, ctype, []byte(body))
		if code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
		}
		return string(out)
	}
	do("POST", "/v1/identities", "application/json", `{"identity": {"name": "alice", "comment": "Alice"}}`, 200)
	if out := do("POST", "/v1/identities", "application/json", `{"identity": {"name": "a b"}}`, 400); !strings.Contains(out, "name:") {
		t.Errorf("bad name: %s", out)
	}
	// A binding is an upload: a body past the small bound of other calls
	// is read and judged (400: not a certificate), not refused unread.
	if out := do("POST", "/v1/identities/alice/certificates", "application/octet-stream", "0"+strings.Repeat("x", 100<<10), 400); !strings.Contains(out, "certificate:") {
		t.Errorf("large garbage: %s", out)
	}
	laptop := testpki.SelfSigned(t, "alice laptop", testpki.Options{})
	out := do("POST", "/v1/identities/alice/certificates", "application/x-pem-file", string(laptop.PEM()), 200)
	if !strings.Contains(out, `"self_signed": true`) {
		t.Errorf("bind: %s", out)
	}
	if out := do("GET", "/v1/identities/alice", "", "", 200); !strings.Contains(out, `"pinned_on": [`) || !strings.Contains(out, "app.example.com") {
		t.Errorf("get: %s", out)
	}
	do("PATCH", "/v1/identities/alice", "application/json", `{"identity": {"enabled": false}, "update_mask": ["enabled"]}`, 200)
	got, err := c.GetIdentity(ctx, &pb.GetIdentityRequest{Name: "alice"})
	if err != nil || got.GetEnabled() {
		t.Fatalf("after disabling: %v %v", got, err)
	}
	fp := pki.Fingerprint(laptop.Cert.Raw)
	do("DELETE", "/v1/identities/alice/certificates/"+fp, "", "", 200)
	do("DELETE", "/v1/identities/alice/certificates/"+fp, "", "", 404)
	if out := do("PATCH", "/v1/account", "application/json", `{"settings": {"identity_mapping": {"source": "IDENTITY_SOURCE_SUBJECT_ATTRIBUTE"}}, "update_mask": ["identity_mapping"]}`, 400); !strings.Contains(out, "identity_mapping.oid") {
		t.Errorf("mapping without oid: %s", out)
	}
	do("PATCH", "/v1/account", "application/json", `{"settings": {"identity_mapping": {"source": "IDENTITY_SOURCE_SAN_EMAIL"}}, "update_mask": ["identity_mapping"]}`, 200)
	if out := do("GET", "/v1/account", "", "", 200); !strings.Contains(out, "IDENTITY_SOURCE_SAN_EMAIL") {
		t.Errorf("account: %s", out)
	}
	// Pages by name, without the certificates' PEM.
	for _, n := range []string{"bob", "carol", "dave"} {
		if _, err := c.CreateIdentity(ctx, &pb.CreateIdentityRequest{Identity: &pb.Identity{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.BindCertificate(ctx, &pb.BindCertificateRequest{Name: "alice", Certificate: laptop.PEM()}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for after := ""; ; {
		page, err := c.ListIdentities(ctx, &pb.ListIdentitiesRequest{Limit: 3, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range page.GetIdentities() {
			names = append(names, id.GetName())
			for _, b := range id.GetCertificates() {
				if b.GetCertificatePem() != "" || b.GetSha256Fingerprint() == "" {
					t.Errorf("listed certificate: %v", b)
				}
			}
		}
		if after = page.GetNextAfter(); after == "" {
			break
		}
	}
	if strings.Join(names, ",") != "alice,bob,carol,dave" {
		t.Errorf("pages gave %v", names)
	}
	do("GET", "/v1/identities?limit=1001", "", "", 400)
	if _, err := c.UnbindCertificate(ctx, &pb.UnbindCertificateRequest{Name: "alice", Sha256Fingerprint: fp}); err != nil {
		t.Fatal(err)
	}
	do("DELETE", "/v1/identities/alice", "", "", 200)
	list, err := c.ListIdentities(ctx, &pb.ListIdentitiesRequest{})
	if err != nil || len(list.GetIdentities()) != 3 {
		t.Fatalf("list after delete: %v %v", list, err)
	}
	audit, err := c.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{Object: "identity/alice"})
	if err != nil || len(audit.GetEvents()) < 5 {
		t.Fatalf("audit: %d events, %v", len(audit.GetEvents()), err)
	}
}
