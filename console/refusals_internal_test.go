package console

import (
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestVerifyAtOfOldSites: a site stored before verify_at existed reads as
// handshake, its effective value: its unchanged form changes nothing, and
// choosing request names verify_at alone.
func TestVerifyAtOfOldSites(t *testing.T) {
	cur := current() // no verify_at
	vals := settingValues(cur)
	if vals["verify_at"] != "VERIFY_AT_HANDSHAKE" {
		t.Fatalf("verify_at shown %q", vals["verify_at"])
	}
	if _, mask, errs := parseSettingsForm(vals, cur); len(mask) != 0 || len(errs) != 0 {
		t.Fatalf("unchanged form: mask %v, errors %v", mask, errs)
	}
	vals["verify_at"] = "VERIFY_AT_REQUEST"
	next, mask, errs := parseSettingsForm(vals, cur)
	if len(errs) != 0 || len(mask) != 1 || mask[0] != "verify_at" || next.GetVerifyAt() != pb.VerifyAt_VERIFY_AT_REQUEST {
		t.Fatalf("mask %v, errors %v, verify_at %v", mask, errs, next.GetVerifyAt())
	}
}

// TestRefusalFieldOf: the API's paths name the add form's fields.
func TestRefusalFieldOf(t *testing.T) {
	for path, want := range map[string]string{
		"refusals[2].page.status": "status", "refusals[0].reasons[1]": "reasons", "refusals[1].reasons": "reasons",
		"refusals[3].redirect_url": "redirect", "refusals[0].page.body": "body", "refusals": "list", "refusals[4]": "list", "": "list",
	} {
		if got := refusalFieldOf(path); got != want {
			t.Errorf("%q: %q, want %q", path, got, want)
		}
	}
}
