package console

import (
	"context"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
)

// current is a site's settings as the API returns them (defaults filled).
func current() *pb.ClientCertSettings {
	t := true
	return &pb.ClientCertSettings{Mode: pb.Mode_MODE_DISABLED, RequireClientAuthEku: &t, HttpRedirect: &t,
		Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_LEAF, OnStaleCrl: pb.StaleCRLAction_STALE_CRL_ACTION_DENY,
			Ocsp: pb.OCSPCheck_OCSP_CHECK_OFF, OnOcspUnavailable: pb.OCSPFailureAction_OCSP_FAILURE_ACTION_DENY,
			OnOcspUnknown: pb.OCSPFailureAction_OCSP_FAILURE_ACTION_DENY},
		Headers: map[string]string{"verify": "x-client-cert-verify", "cert": "client-cert"}, CertEncoding: pb.CertEncoding_CERT_ENCODING_RFC9440,
		BadCertificateStatus: 403, MissingCertificateStatus: 403, MinTlsVersion: pb.TLSVersion_TLS_VERSION_1_2,
		CertificateSource: pb.CertificateSource_CERTIFICATE_SOURCE_PEER, Xfcc: &pb.XFCCSettings{Hop: 1}}
}

func TestSettingsFormMask(t *testing.T) {
	cur := current()
	vals := settingValues(cur)
	if _, mask, errs := parseSettingsForm(vals, cur); len(mask) != 0 || len(errs) != 0 {
		t.Fatalf("unchanged form: mask %v, errors %v", mask, errs)
	}
	vals["mode"] = "MODE_ENFORCE"
	vals["revocation.stale_crl_grace"] = "360m"
	vals["headers.verify"] = "x-verify"
	vals["headers.cert"] = ""
	vals["xfcc.trusted_peers"] = "10.0.0.0/8\n192.0.2.1, "
	vals["http_redirect"] = "" // an unchecked box posts nothing
	next, mask, errs := parseSettingsForm(vals, cur)
	want := []string{"mode", "http_redirect", "revocation.stale_crl_grace", "xfcc.trusted_peers", "headers"}
	if len(errs) != 0 || !slices.Equal(mask, want) {
		t.Fatalf("mask %v, want %v (errors %v)", mask, want, errs)
	}
	if next.GetRevocation().GetStaleCrlGrace().AsDuration() != 6*time.Hour || next.GetHttpRedirect() ||
		next.GetHeaders()["cert"] != "" || next.GetHeaders()["verify"] != "x-verify" ||
		!slices.Equal(next.GetXfcc().GetTrustedPeers(), []string{"10.0.0.0/8", "192.0.2.1"}) {
		t.Errorf("settings sent: %v", next)
	}
	vals = settingValues(cur)
	vals["revocation.stale_crl_grace"], vals["mode"] = "soon", "MODE_NOPE"
	if _, _, errs := parseSettingsForm(vals, cur); len(errs) != 2 || errs["revocation.stale_crl_grace"] == "" || errs["mode"] == "" {
		t.Errorf("unreadable values: %v", errs)
	}
}

func TestFieldOfError(t *testing.T) {
	for msg, want := range map[string]string{
		"revocation.stale_crl_grace: must be between 0s and 168h0m0s, got 999h0m0s": "revocation.stale_crl_grace",
		"xfcc.trusted_peers[1]: not an address":                                     "xfcc.trusted_peers",
		"headers.verify: header name \"Host\" is reserved":                          "headers.verify",
		"settings.mode: unknown value 9":                                            "mode",
		"xfcc: at most 16 trusted_by URIs":                                          "",
		"pins[0]: sha256_fingerprint must be 64 hex digits":                         "",
		"role viewer may not call UpdateSiteSettings":                               "",
	} {
		if got := fieldOfError(msg); got != want {
			t.Errorf("fieldOfError(%q) = %q, want %q", msg, got, want)
		}
	}
	for msg, want := range map[string]string{
		"hostname: not a hostname":                                 "hostname",
		"fleets[2]: bad name":                                      "fleets",
		"server_certificate.inline: certificate does not cover x":  "cert",
		"server_certificate.files.private_key_path: must be clean": "key_path",
		"update_mask: is required":                                 "",
	} {
		if got := createFieldOf(msg, "upload"); got != want {
			t.Errorf("createFieldOf(%q) = %q, want %q", msg, got, want)
		}
	}
}

// siteAPI serves one site and says the caller is who; it records the
// last settings update.
type siteAPI struct {
	fakeAPI
	site   *pb.Site
	who    *pb.Token
	update *pb.UpdateSiteSettingsRequest
}

func (f *siteAPI) AssignSiteCAs(ctx context.Context, r *pb.SiteCAsRequest, _ ...grpc.CallOption) (*pb.Site, error) {
	if err := authorised(ctx); err != nil {
		return nil, err
	}
	if r.GetCaIds()[0] != "ca1" {
		return nil, status.Errorf(codes.NotFound, "client CA %q not found", r.GetCaIds()[0])
	}
	f.site.CaIds = append(f.site.CaIds, "ca1")
	return f.site, nil
}

func (f *siteAPI) UnassignSiteCAs(ctx context.Context, r *pb.SiteCAsRequest, _ ...grpc.CallOption) (*pb.Site, error) {
	f.site.CaIds = slices.DeleteFunc(f.site.CaIds, func(id string) bool { return id == r.GetCaIds()[0] })
	return f.site, authorised(ctx)
}

func (f *siteAPI) GetSiteSettings(ctx context.Context, _ *pb.GetSiteRequest, _ ...grpc.CallOption) (*pb.ClientCertSettings, error) {
	return f.site.GetSettings(), authorised(ctx)
}

func (f *siteAPI) UpdateSiteSettings(ctx context.Context, r *pb.UpdateSiteSettingsRequest, _ ...grpc.CallOption) (*pb.ClientCertSettings, error) {
	f.update = r
	return r.GetSettings(), authorised(ctx)
}

func (f *siteAPI) GetSite(ctx context.Context, _ *pb.GetSiteRequest, _ ...grpc.CallOption) (*pb.Site, error) {
	return f.site, authorised(ctx)
}

func (f *siteAPI) ListSites(ctx context.Context, _ *pb.ListSitesRequest, _ ...grpc.CallOption) (*pb.ListSitesResponse, error) {
	return &pb.ListSitesResponse{Sites: []*pb.Site{f.site}}, authorised(ctx)
}

func (f *siteAPI) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest, _ ...grpc.CallOption) (*pb.Token, error) {
	return f.who, authorised(ctx)
}

// TestSiteStatusAndScope: a NACK is shown on the site page and marks the
// site in the list; a site-manager may edit the settings of its own sites
// only.
func TestSiteStatusAndScope(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	api := &siteAPI{site: &pb.Site{Hostname: "app.example.com", Settings: current(), Status: &pb.SiteStatus{
		LastNack: "invalid listener", LastNackNode: "edge-1", LastNackAt: timestamppb.New(at)}},
		who: &pb.Token{Role: pb.Role_ROLE_SITE_MANAGER, Sites: []string{"app.example.com"}}}
	c, err := New(Options{API: api, Sealer: seal.MustGenerate(), Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	ck := signedIn(t, c)
	page := do(c, "GET", "/ui/sites/app.example.com", "", ck).Body.String()
	for _, want := range []string{"invalid listener", "node edge-1", "2026-05-01 12:00:00Z", `id="save"`} {
		if !strings.Contains(page, want) {
			t.Errorf("site page lacks %q", want)
		}
	}
	if list := do(c, "GET", "/ui/sites", "", ck).Body.String(); !strings.Contains(list, "<strong>rejected</strong>: rejected by edge-1: invalid listener") {
		t.Errorf("list does not mark the NACK:\n%s", list)
	}
	api.who = &pb.Token{Role: pb.Role_ROLE_SITE_MANAGER, Sites: []string{"other.example.com"}}
	if page := do(c, "GET", "/ui/sites/app.example.com", "", ck).Body.String(); strings.Contains(page, `id="save"`) || !strings.Contains(page, "settings-readonly") {
		t.Error("a site-manager of another site is offered the settings form")
	}
}

// TestSettingsSaveKeepsOthersChanges: the mask names the fields the user
// changed from what the form showed, not every field that differs from
// the settings in force (another user's change meanwhile is kept).
func TestSettingsSaveKeepsOthersChanges(t *testing.T) {
	api := &siteAPI{site: &pb.Site{Hostname: "app.example.com", Settings: current()}, who: &pb.Token{Role: pb.Role_ROLE_ADMIN}}
	c, err := New(Options{API: api, Sealer: seal.MustGenerate()})
	if err != nil {
		t.Fatal(err)
	}
	ck := signedIn(t, c)
	page := do(c, "GET", "/ui/sites/app.example.com", "", ck).Body.String()
	form := url.Values{}
	for _, re := range []string{`name="(base)" value="([^"]*)"`, `name="([^"]+)" type="text" value="([^"]*)"`,
		`name="([^"]+)" type="checkbox" value="(true)" checked`} {
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(page, -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	for _, m := range regexp.MustCompile(`<select id="[^"]+" name="([^"]+)"[\s\S]*?<option value="([^"]+)" selected>`).FindAllStringSubmatch(page, -1) {
		form.Set(m[1], m[2])
	}
	form.Set("csrf", regexp.MustCompile(`name="csrf" value="([^"]+)">\n<input type="hidden" name="base"`).FindStringSubmatch(page)[1])
	api.site.Settings.AllowExpired = true // someone else, meanwhile
	form.Set("mode", "MODE_ENFORCE")
	w := do(c, "POST", "/ui/sites/app.example.com/settings", form.Encode(), ck)
	if w.Code != 303 || api.update == nil || !slices.Equal(api.update.GetUpdateMask(), []string{"mode"}) {
		t.Fatalf("answer %d, update %v", w.Code, api.update)
	}
	if loc := w.Header().Get("Location"); loc != "/ui/sites/app.example.com?saved=mode" {
		t.Errorf("redirect %q", loc)
	}
	if n := savedNotice("mode,<b>,headers"); n != "Saved: mode, headers." {
		t.Errorf("notice %q", n)
	}
}

// TestSiteAssignUnassign: assign and unassign post to the API with their
// own form's CSRF token; a refusal is shown above the assign form.
func TestSiteAssignUnassign(t *testing.T) {
	api := &siteAPI{site: &pb.Site{Hostname: "app.example.com", Settings: current()}, who: &pb.Token{Role: pb.Role_ROLE_CA_MANAGER}}
	c, err := New(Options{API: api, Sealer: seal.MustGenerate()})
	if err != nil {
		t.Fatal(err)
	}
	ck := signedIn(t, c)
	sess, err := openSession(c.sealer, ck.Value, time.Now(), time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	assign := "csrf=" + url.QueryEscape(csrfToken(sess, "/ui/sites/app.example.com/assign"))
	if w := do(c, "POST", "/ui/sites/app.example.com/unassign", assign+"&ca_id=ca1", ck); w.Code != 403 {
		t.Errorf("unassign with the assign form's token: %d", w.Code)
	}
	if w := do(c, "POST", "/ui/sites/app.example.com/assign", assign+"&ca_id=ca1", ck); w.Code != 303 || !slices.Equal(api.site.CaIds, []string{"ca1"}) {
		t.Fatalf("assign: %d, CAs %v", w.Code, api.site.CaIds)
	}
	w := do(c, "POST", "/ui/sites/app.example.com/assign", assign+"&ca_id=nope", ck)
	if w.Code != 404 || !strings.Contains(w.Body.String(), `id="assign-error" role="alert">client CA &#34;nope&#34; not found`) {
		t.Errorf("refused assign: %d\n%s", w.Code, w.Body.String())
	}
	if page := w.Body.String(); !strings.Contains(page, "settings-readonly") || strings.Contains(page, `id="save"`) {
		t.Error("a ca-manager is offered the settings form")
	}
	unassign := "csrf=" + url.QueryEscape(csrfToken(sess, "/ui/sites/app.example.com/unassign"))
	if w := do(c, "POST", "/ui/sites/app.example.com/unassign", unassign+"&ca_id=ca1", ck); w.Code != 303 || len(api.site.CaIds) != 0 {
		t.Errorf("unassign: %d, CAs %v", w.Code, api.site.CaIds)
	}
}
