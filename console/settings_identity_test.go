package console_test

import (
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// settingsFormOf is the settings form of page as a browser would post
// it unchanged.
func settingsFormOf(t *testing.T, page string) url.Values {
	t.Helper()
	i := strings.Index(page, `<form id="settings"`)
	j := strings.Index(page[i:], "</form>")
	form, out := page[i:i+j], url.Values{}
	for _, re := range []string{`name="(base)" value="([^"]*)"`, `name="([^"]+)" type="text" value="([^"]*)"`,
		`name="([^"]+)" type="checkbox" value="(true)" checked`, `<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>`} {
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(form, -1) {
			out.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	for _, m := range regexp.MustCompile(`<select id="[^"]+" name="([^"]+)"[^>]*>([\s\S]*?)</select>`).FindAllStringSubmatch(form, -1) {
		if sel := regexp.MustCompile(`<option value="([^"]*)" selected>`).FindStringSubmatch(m[2]); sel != nil {
			out.Set(m[1], html.UnescapeString(sel[1]))
		}
	}
	return out
}

// TestSiteIdentitySettings: the site's settings form sets the identity
// admission, the admitted identities and the site's own mapping (the
// API's refusal of a mapping shown next to its OID field, nothing
// saved), and goes back to the account's mapping.
func TestSiteIdentitySettings(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	form := settingsFormOf(t, u.page())
	if form.Get("identity_admission") != "IDENTITY_ADMISSION_CA_ONLY" || form.Get("identity_mapping.source") != "ACCOUNT" {
		t.Fatalf("the form shows admission %q, mapping %q", form.Get("identity_admission"), form.Get("identity_mapping.source"))
	}
	form.Set("identity_admission", "IDENTITY_ADMISSION_LISTED")
	form.Set("admitted_identities", "alice\nbob")
	form.Set("identity_mapping.source", "IDENTITY_SOURCE_SUBJECT_ATTRIBUTE")
	code, body := u.post("settings", form, "", nil)
	if got := fieldError(body, "set-identity-mapping-oid"); code != 422 || !strings.Contains(got, "identity_mapping.oid: is required") {
		t.Fatalf("a mapping without its OID: %d, %q", code, got)
	}
	if a := settingsNow(r).GetIdentityAdmission(); a == pb.IdentityAdmission_IDENTITY_ADMISSION_LISTED || len(settingsNow(r).GetAdmittedIdentities()) != 0 {
		t.Fatal("a refused save changed the settings")
	}
	form.Set("identity_mapping.oid", "0.9.2342.19200300.100.1.1")
	code, loc := u.post("settings", form, "", nil)
	if code != 303 || loc != "/ui/sites/app.example.com?saved=identity_admission,admitted_identities,identity_mapping" {
		t.Fatalf("save: %d %s", code, loc)
	}
	s := settingsNow(r)
	if s.GetIdentityAdmission() != pb.IdentityAdmission_IDENTITY_ADMISSION_LISTED || !slices.Equal(s.GetAdmittedIdentities(), []string{"alice", "bob"}) ||
		s.GetIdentityMapping().GetOid() != "0.9.2342.19200300.100.1.1" || s.GetMode() != pb.Mode_MODE_DISABLED && s.GetMode() != pb.Mode_MODE_PERMISSIVE {
		t.Fatalf("stored %v", s)
	}
	form = settingsFormOf(t, u.page())
	if form.Get("admitted_identities") != "alice\nbob" || form.Get("identity_mapping.source") != "IDENTITY_SOURCE_SUBJECT_ATTRIBUTE" {
		t.Errorf("the form after the save: %v", form)
	}
	form.Set("identity_mapping.source", "ACCOUNT")
	form.Set("identity_mapping.oid", "")
	if code, loc := u.post("settings", form, "", nil); code != 303 || !strings.HasSuffix(loc, "?saved=identity_mapping") || settingsNow(r).GetIdentityMapping() != nil {
		t.Errorf("back to the account's mapping: %d %s, %v", code, loc, settingsNow(r).GetIdentityMapping())
	}
}
