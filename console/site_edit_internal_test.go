package console

import (
	"slices"
	"testing"
)

// TestEditMask: the mask names the origin and the fleets only when they
// differ from what the form showed; fleets compare as a set.
func TestEditMask(t *testing.T) {
	base := map[string]string{"origin_url": "http://127.0.0.1:8080", "fleets": "eu-west, us-east"}
	for _, c := range []struct {
		origin, fleets string
		want           []string
	}{
		{"http://127.0.0.1:8080", "eu-west, us-east", nil},
		{"http://127.0.0.1:8080", "us-east,eu-west,eu-west", nil},
		{"https://10.0.0.7:8443", "eu-west, us-east", []string{"origin_url"}},
		{"http://127.0.0.1:8080", "", []string{"fleets"}},
		{"https://10.0.0.7:8443", "eu-west", []string{"origin_url", "fleets"}},
	} {
		f := siteEditForm{vals: map[string]string{"origin_url": c.origin, "fleets": c.fleets}, base: base}
		if got := editMask(f); !slices.Equal(got, c.want) {
			t.Errorf("%q %q: mask %v, want %v", c.origin, c.fleets, got, c.want)
		}
	}
}

// TestEditedAndDeletedNotices: ?edited= names only the form's paths;
// ?deleted= is not believed while the list shows the site.
func TestEditedAndDeletedNotices(t *testing.T) {
	if got := editedNotice("server_certificate,mode,origin_url,origin_url"); got != "Saved: server_certificate, origin_url." {
		t.Errorf("edited notice %q", got)
	}
	if got := editedNotice("ca_ids"); got != "" {
		t.Errorf("edited notice of an unknown path %q", got)
	}
	rows := []siteRow{{Hostname: "shop.example.com"}}
	if got := deletedNotice("app.example.com", rows); got != "Site app.example.com is deleted." {
		t.Errorf("deleted notice %q", got)
	}
	if got := deletedNotice("shop.example.com", rows); got != "" {
		t.Errorf("deleted notice of a listed site %q", got)
	}
}
