package console_test

import (
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestBrowserSiteIdentities: on the site page an admin admits listed
// identities, types two names and chooses a mapping of the site's own;
// the save sends exactly the three identity masks, and the form shows
// what was saved.
func TestBrowserSiteIdentities(t *testing.T) {
	r, _ := siteSetup(t)
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.base+"/ui/sites/app.example.com"),
		chromedp.WaitVisible(chromedp.ID("set-identity-admission")),
		chromedp.SetValue(chromedp.ID("set-identity-admission"), "IDENTITY_ADMISSION_LISTED"),
		chromedp.SendKeys(chromedp.ID("set-admitted-identities"), "alice\nbob"),
		chromedp.SetValue(chromedp.ID("set-identity-mapping-source"), "IDENTITY_SOURCE_SAN_EMAIL"),
		chromedp.Click(chromedp.ID("save")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#notice", "Saved: identity_admission, admitted_identities, identity_mapping.")
	s := settingsNow(r)
	if s.GetIdentityAdmission() != pb.IdentityAdmission_IDENTITY_ADMISSION_LISTED || !slices.Equal(s.GetAdmittedIdentities(), []string{"alice", "bob"}) ||
		s.GetIdentityMapping().GetSource() != pb.IdentitySource_IDENTITY_SOURCE_SAN_EMAIL {
		t.Errorf("stored %v", s)
	}
	if v := evaluate[string](t, ctx, `document.getElementById("set-identity-mapping-source").value`); v != "IDENTITY_SOURCE_SAN_EMAIL" {
		t.Errorf("the form shows the mapping %q", v)
	}
}
