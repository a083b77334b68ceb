package cli

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func cliPage(status uint32, ctype, body string, reasons ...string) *pb.Refusal {
	return &pb.Refusal{Reasons: reasons, Answer: &pb.Refusal_Page{Page: &pb.RefusalPage{Status: status, ContentType: ctype, Body: body}}}
}

func cliRedirect(url string, reasons ...string) *pb.Refusal {
	return &pb.Refusal{Reasons: reasons, Answer: &pb.Refusal_RedirectUrl{RedirectUrl: url}}
}

// refusalSettings are a site's settings with two refusals.
var refusalSettings = &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE, VerifyAt: pb.VerifyAt_VERIFY_AT_REQUEST, Refusals: []*pb.Refusal{
	cliPage(0, "text/html", "<p>{reason}</p>", "expired", "none"),
	cliRedirect("https://enroll.example.com/?r={reason}", "revoked", "untrusted"),
}}

// TestVerifyAtKey: site set verify_at=request|handshake sends that value
// with mask verify_at; anything else is a usage error naming the choices.
func TestVerifyAtKey(t *testing.T) {
	for v, want := range map[string]pb.VerifyAt{"request": pb.VerifyAt_VERIFY_AT_REQUEST, "HANDSHAKE": pb.VerifyAt_VERIFY_AT_HANDSHAKE} {
		f := (&fakeAPI{}).on("UpdateSiteSettings", reply(refusalSettings))
		code, out, errOut := runFake(f, testEnv{}, "site", "set", "a.example.com", "verify_at="+v)
		if code != 0 || !strings.Contains(out, "verify_at") || !strings.Contains(out, "request") {
			t.Fatalf("%s: exit %d %q %q", v, code, out, errOut)
		}
		r := f.reqs[0].(*pb.UpdateSiteSettingsRequest)
		if r.GetSettings().GetVerifyAt() != want || strings.Join(r.GetUpdateMask(), ",") != "verify_at" {
			t.Fatalf("%s: sent %v", v, r)
		}
	}
	f := &fakeAPI{}
	code, _, errOut := runFake(f, testEnv{}, "site", "set", "a.example.com", "verify_at=later")
	if code != 2 || len(f.calls) > 0 || !strings.Contains(errOut, "handshake|request") {
		t.Fatalf("bad value: exit %d %q %v", code, errOut, f.calls)
	}
}

// TestRefusalSet: the given reasons leave the refusals naming them (one
// left with none goes), the new refusal is appended, and the whole list is
// sent with mask refusals.
func TestRefusalSet(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want []*pb.Refusal
	}{
		{"page replacing none and untrusted",
			[]string{"--reason", "no_certificate", "--reason", "untrusted", "--page", "p.html", "--content-type", "text/html", "--status", "401"},
			[]*pb.Refusal{cliPage(0, "text/html", "<p>{reason}</p>", "expired"), cliRedirect("https://enroll.example.com/?r={reason}", "revoked"),
				cliPage(401, "text/html", "<h1>{reason}</h1>\n", "none", "untrusted")}},
		{"redirect taking every reason of a refusal",
			[]string{"--reason", "revoked", "--reason", "untrusted", "--redirect", "https://help.example.com/{reason}"},
			[]*pb.Refusal{cliPage(0, "text/html", "<p>{reason}</p>", "expired", "none"), cliRedirect("https://help.example.com/{reason}", "revoked", "untrusted")}},
		{"a new reason", []string{"--reason", "*", "--page", "p.html"},
			[]*pb.Refusal{refusalSettings.Refusals[0], refusalSettings.Refusals[1], cliPage(0, "", "<h1>{reason}</h1>\n", "*")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := (&fakeAPI{}).on("GetSiteSettings", reply(refusalSettings)).on("UpdateSiteSettings", reply(refusalSettings))
			args := append([]string{"refusal", "set", "a.example.com"}, c.args...)
			code, out, errOut := runFake(f, testEnv{files: map[string]string{"p.html": "<h1>{reason}</h1>\n"}}, args...)
			if code != 0 || !strings.Contains(out, "refusals") {
				t.Fatalf("exit %d %q %q", code, out, errOut)
			}
			if strings.Join(f.calls, ",") != "GetSiteSettings,UpdateSiteSettings" {
				t.Fatalf("calls %v", f.calls)
			}
			r := f.reqs[1].(*pb.UpdateSiteSettingsRequest)
			want := &pb.UpdateSiteSettingsRequest{Hostname: "a.example.com", Settings: &pb.ClientCertSettings{Refusals: c.want}, UpdateMask: []string{"refusals"}}
			if !proto.Equal(r, want) {
				t.Fatalf("sent %v\nwant %v", r, want)
			}
		})
	}
}

// TestRefusalSetUsage: bad flag combinations are usage errors that call
// nothing.
func TestRefusalSetUsage(t *testing.T) {
	big := strings.Repeat("a", maxRefusalPage+1)
	for _, args := range [][]string{
		{"--page", "p.html"},
		{"--reason", "none"},
		{"--reason", "none", "--page", "p.html", "--redirect", "https://e.example/"},
		{"--reason", "none", "--redirect", "https://e.example/", "--status", "403"},
		{"--reason", "none", "--page", "p.html", "--content-type", "application/json"},
		{"--reason", "none", "--page", "p.html", "--status", "302"},
		{"--reason", "none", "--page", "big.html"},
		{"--reason", "none", "--page", "bad.html"},
	} {
		f := &fakeAPI{}
		te := testEnv{files: map[string]string{"p.html": "x", "big.html": big, "bad.html": "\xff"}}
		code, _, errOut := runFake(f, te, append([]string{"refusal", "set", "a.example.com"}, args...)...)
		if code != 2 || len(f.calls) > 0 {
			t.Errorf("%v: exit %d (%q), calls %v; want a usage error", args, code, errOut, f.calls)
		}
	}
}

// TestRefusalClear: without --reason every refusal goes; with it, those
// reasons leave their refusals.
func TestRefusalClear(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []*pb.Refusal
	}{
		{nil, nil},
		{[]string{"--reason", "none", "--reason", "expired", "--reason", "revoked"},
			[]*pb.Refusal{cliRedirect("https://enroll.example.com/?r={reason}", "untrusted")}},
	} {
		f := (&fakeAPI{}).on("GetSiteSettings", reply(refusalSettings)).on("UpdateSiteSettings", reply(&pb.ClientCertSettings{}))
		code, out, errOut := runFake(f, testEnv{}, append([]string{"refusal", "clear", "a.example.com"}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d %q %q", c.args, code, out, errOut)
		}
		r := f.reqs[1].(*pb.UpdateSiteSettingsRequest)
		want := &pb.UpdateSiteSettingsRequest{Hostname: "a.example.com", Settings: &pb.ClientCertSettings{Refusals: c.want}, UpdateMask: []string{"refusals"}}
		if !proto.Equal(r, want) {
			t.Fatalf("%v: sent %v\nwant %v", c.args, r, want)
		}
	}
}

// TestRefusalShown: site show and site settings print verify_at and one
// line per refusal.
func TestRefusalShown(t *testing.T) {
	f := (&fakeAPI{}).on("GetSite", reply(&pb.Site{Hostname: "a.example.com", Settings: refusalSettings}))
	code, out, errOut := runFake(f, testEnv{}, "site", "show", "a.example.com")
	if code != 0 {
		t.Fatalf("exit %d %q", code, errOut)
	}
	for _, want := range []string{"verify_at", "request", "expired,none: page the site's status, text/html, 15 bytes",
		"revoked,untrusted: redirect https://enroll.example.com/?r={reason}"} {
		if !strings.Contains(out, want) {
			t.Errorf("site show lacks %q:\n%s", want, out)
		}
	}
}

func init() {
	invocations["refusal set"] = []string{"a.example.com", "--reason", "none", "--redirect", "https://enroll.example.com/"}
	invocations["refusal clear"] = []string{"a.example.com", "--reason", "none"}
}

// TestVerifyAtCompletes: the shell completion offers verify_at's values.
func TestVerifyAtCompletes(t *testing.T) {
	if got := strings.Join(fixedValues(refusalSettingKeys[0].allowed), ","); got != "handshake,request" {
		t.Fatalf("values %q", got)
	}
}
