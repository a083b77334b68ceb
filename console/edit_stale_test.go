package console_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestSiteEditStale: the origin changed by someone else after the page
// was loaded is not overwritten by a save of the same field: the page
// says so (409), keeps what was typed and shows the base in force, and
// saving that form again replaces it.
func TestSiteEditStale(t *testing.T) {
	r, _ := siteSetup(t)
	u := newUIClient(t, r, r.admin)
	form := editForm(t, u.page())
	patchSite(t, r, `{"site": {"origin_url": "http://10.0.0.9:8080"}, "update_mask": ["origin_url"]}`)
	form.Set("origin_url", "http://10.0.0.7:8080")
	code, page := u.sitePost("edit", form, nil)
	if code != http.StatusConflict || !strings.Contains(page, "Changed by someone else since you loaded the page: origin_url.") {
		t.Fatalf("stale save: %d", code)
	}
	if got := siteNow(r).GetOriginUrl(); got != "http://10.0.0.9:8080" {
		t.Fatalf("a stale save wrote the origin: %s", got)
	}
	again := editForm(t, page)
	if again.Get("origin_url") != "http://10.0.0.7:8080" || again.Get("base_origin_url") != "http://10.0.0.9:8080" {
		t.Fatalf("form after the refusal: %v", again)
	}
	if code, _ := u.sitePost("edit", again, nil); code != http.StatusSeeOther {
		t.Fatalf("second save: %d", code)
	}
	if got := siteNow(r).GetOriginUrl(); got != "http://10.0.0.7:8080" {
		t.Errorf("origin after the second save: %s", got)
	}
}

// TestCAEditStale: CRL URLs changed by someone else after the page was
// loaded are not overwritten by a save of the same field.
func TestCAEditStale(t *testing.T) {
	r := startServer(t)
	f := newCAFixture(t, r)
	c := signInHTTP(t, r, r.admin)
	baseOf := func(page string) string {
		return html.UnescapeString(regexp.MustCompile(`name="base" value="([^"]*)"`).FindStringSubmatch(page)[1])
	}
	_, page := c.get(f.path)
	base := baseOf(page)
	if _, err := r.srv.Store().UpdateCA(context.Background(), store.Actor{Action: "test"}, f.id,
		&pb.ClientCA{CrlUrls: []string{"http://crl.example.com/a.crl"}}, []string{"crl_urls"}); err != nil {
		t.Fatal(err)
	}
	code, page, _ := c.post(f.path+"/edit", f.path+"/edit", "base", base, "name", "partner", "crl_urls", "http://crl.example.com/b.crl")
	if code != http.StatusConflict || !strings.Contains(page, "Changed by someone else since you loaded the page: crl_urls.") {
		t.Fatalf("stale save: %d", code)
	}
	if got := r.srv.Store().Current().CA(f.id).GetCrlUrls(); len(got) != 1 || got[0] != "http://crl.example.com/a.crl" {
		t.Fatalf("a stale save wrote the URLs: %v", got)
	}
	code, _, loc := c.post(f.path+"/edit", f.path+"/edit", "base", baseOf(page), "name", "partner", "crl_urls", "http://crl.example.com/b.crl")
	if code != http.StatusSeeOther || loc != f.path+"?saved=crl_urls" {
		t.Fatalf("second save: %d %s", code, loc)
	}
}
