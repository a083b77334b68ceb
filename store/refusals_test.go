package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

func page(status uint32, ctype, body string, reasons ...string) *pb.Refusal {
	return &pb.Refusal{Reasons: reasons, Answer: &pb.Refusal_Page{Page: &pb.RefusalPage{Status: status, ContentType: ctype, Body: body}}}
}

func redirect(url string, reasons ...string) *pb.Refusal {
	return &pb.Refusal{Reasons: reasons, Answer: &pb.Refusal_RedirectUrl{RedirectUrl: url}}
}

// TestRefusalSettingsStored: verify_at is stored explicitly (handshake by
// default), and refusals are stored with their reasons sorted,
// no_certificate spelt "none" and a page's content type filled in; the
// masks verify_at and refusals each change only their field.
func TestRefusalSettingsStored(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	got, err := f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}, []string{"mode"})
	if err != nil || got.GetVerifyAt() != pb.VerifyAt_VERIFY_AT_HANDSHAKE || len(got.GetRefusals()) != 0 {
		t.Fatalf("defaults: %v %v", got, err)
	}
	got, err = f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{VerifyAt: pb.VerifyAt_VERIFY_AT_REQUEST}, []string{"verify_at"})
	if err != nil || got.GetVerifyAt() != pb.VerifyAt_VERIFY_AT_REQUEST || got.GetMode() != pb.Mode_MODE_ENFORCE {
		t.Fatalf("verify_at: %v %v", got, err)
	}
	in := []*pb.Refusal{
		page(0, "", "no certificate: {reason}", "no_certificate", "expired"),
		redirect("https://enroll.example.com/?why={reason}", "untrusted", "revoked"),
		page(451, "text/html", "<p>{reason}</p>", "*"),
	}
	got, err = f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{Refusals: in}, []string{"refusals"})
	if err != nil {
		t.Fatal(err)
	}
	want := []*pb.Refusal{
		page(0, "text/plain", "no certificate: {reason}", "expired", "none"),
		redirect("https://enroll.example.com/?why={reason}", "revoked", "untrusted"),
		page(451, "text/html", "<p>{reason}</p>", "*"),
	}
	if !slices.EqualFunc(got.GetRefusals(), want, func(a, b *pb.Refusal) bool { return proto.Equal(a, b) }) {
		t.Fatalf("stored %v, want %v", got.GetRefusals(), want)
	}
	if got.GetVerifyAt() != pb.VerifyAt_VERIFY_AT_REQUEST {
		t.Fatalf("refusals mask changed verify_at: %v", got.GetVerifyAt())
	}
	// Unset in the request: verify_at goes back to its default, refusals
	// to none.
	got, err = f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{}, []string{"verify_at", "refusals"})
	if err != nil || got.GetVerifyAt() != pb.VerifyAt_VERIFY_AT_HANDSHAKE || len(got.GetRefusals()) != 0 {
		t.Fatalf("cleared: %v %v", got, err)
	}
}

// TestRefusalSettingsRefused: each bad value is refused naming its field
// path, and nothing changes.
func TestRefusalSettingsRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	ok := page(0, "", "x", "expired")
	many := make([]*pb.Refusal, store.MaxRefusals+1)
	for i := range many {
		many[i] = page(0, "", "", "*")
	}
	for _, tc := range []struct {
		name, field string
		set         *pb.ClientCertSettings
	}{
		{"verify_at", "verify_at", &pb.ClientCertSettings{VerifyAt: 3}},
		{"verify_at negative", "verify_at", &pb.ClientCertSettings{VerifyAt: -1}},
		{"too many", "refusals: at most 32", &pb.ClientCertSettings{Refusals: many}},
		{"nil", "refusals[1]", &pb.ClientCertSettings{Refusals: []*pb.Refusal{ok, nil}}},
		{"no reasons", "refusals[0].reasons", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "", "")}}},
		{"unknown reason", "refusals[0].reasons[1]: unknown reason \"bogus\"", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "", "", "expired", "bogus")}}},
		{"case", "refusals[0].reasons[0]", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "", "", "Expired")}}},
		{"unknown_site", "refusals[0].reasons[0]: reason \"unknown_site\" is never", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "", "", "unknown_site")}}},
		{"sni_mismatch", "refusals[0].reasons[0]", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "", "", "sni_mismatch")}}},
		{"wrong_fleet", "refusals[0].reasons[0]", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "", "", "wrong_fleet")}}},
		{"twice across", "refusals[1].reasons[0]: \"expired\" is already named by refusals[0].reasons[0]", &pb.ClientCertSettings{Refusals: []*pb.Refusal{ok, page(0, "", "", "expired")}}},
		{"none twice", "refusals[1].reasons[0]", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "", "", "none"), page(0, "", "", "no_certificate")}}},
		{"star twice", "refusals[0].reasons[1]", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "", "", "*", "*")}}},
		{"no answer", "refusals[0]: give a page or a redirect_url", &pb.ClientCertSettings{Refusals: []*pb.Refusal{{Reasons: []string{"expired"}}}}},
		{"empty page", "refusals[0].page", &pb.ClientCertSettings{Refusals: []*pb.Refusal{{Reasons: []string{"expired"}, Answer: &pb.Refusal_Page{}}}}},
		{"status low", "refusals[0].page.status", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(399, "", "", "expired")}}},
		{"status high", "refusals[0].page.status", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(600, "", "", "expired")}}},
		{"status 200", "refusals[0].page.status", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(200, "", "", "expired")}}},
		{"content type", "refusals[0].page.content_type", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "text/html; charset=utf-8", "", "expired")}}},
		{"content type json", "refusals[0].page.content_type", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "application/json", "", "expired")}}},
		{"body size", "refusals[0].page.body: is 65537 bytes", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "", strings.Repeat("a", store.MaxRefusalBody+1), "expired")}}},
		{"body utf-8", "refusals[0].page.body: is not valid UTF-8", &pb.ClientCertSettings{Refusals: []*pb.Refusal{page(0, "", "a\xffb", "expired")}}},
		{"url empty", "refusals[0].redirect_url: is empty", &pb.ClientCertSettings{Refusals: []*pb.Refusal{redirect("", "expired")}}},
		{"url relative", "refusals[0].redirect_url", &pb.ClientCertSettings{Refusals: []*pb.Refusal{redirect("/enroll", "expired")}}},
		{"url scheme", "refusals[0].redirect_url: must start with http", &pb.ClientCertSettings{Refusals: []*pb.Refusal{redirect("javascript://x/%0aalert(1)", "expired")}}},
		{"url no host", "refusals[0].redirect_url: must name a host", &pb.ClientCertSettings{Refusals: []*pb.Refusal{redirect("https:///path", "expired")}}},
		{"url opaque", "refusals[0].redirect_url", &pb.ClientCertSettings{Refusals: []*pb.Refusal{redirect("https:enroll.example.com", "expired")}}},
		{"url credentials", "refusals[0].redirect_url: must not carry credentials", &pb.ClientCertSettings{Refusals: []*pb.Refusal{redirect("https://u:p@enroll.example.com/", "expired")}}},
		{"url control", "refusals[0].redirect_url: byte 20", &pb.ClientCertSettings{Refusals: []*pb.Refusal{redirect("https://example.com/\r\nset-cookie:x", "expired")}}},
		{"url space", "refusals[0].redirect_url", &pb.ClientCertSettings{Refusals: []*pb.Refusal{redirect("https://example.com/a b", "expired")}}},
		{"url non-ascii", "refusals[0].redirect_url", &pb.ClientCertSettings{Refusals: []*pb.Refusal{redirect("https://exämple.com/", "expired")}}},
		{"url long", "refusals[0].redirect_url: is 2049 bytes", &pb.ClientCertSettings{Refusals: []*pb.Refusal{redirect("https://example.com/"+strings.Repeat("a", store.MaxRedirectURL-19), "expired")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.s.Current()
			_, err := f.s.UpdateSettings(ctx, admin, "app.example.com", tc.set, []string{"verify_at", "refusals"})
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("%v, want ErrInvalid naming %q", err, tc.field)
			}
			unchanged(t, f.s, before)
		})
	}
}

// TestRefusalLimitsExact: the limits themselves are accepted.
func TestRefusalLimitsExact(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	var rs []*pb.Refusal
	words := append([]string{"none", "*"}, strings.Split(store.RefusableReasons(), ", ")...)
	for i := 0; i < store.MaxRefusals && i < len(words); i++ {
		rs = append(rs, page(599, "text/html", strings.Repeat("é", store.MaxRefusalBody/2), words[i]))
	}
	rs[1] = redirect("http://e.example/"+strings.Repeat("{reason}", (store.MaxRedirectURL-17)/8)+strings.Repeat("x", (store.MaxRedirectURL-17)%8), "*")
	if n := len(rs[1].GetRedirectUrl()); n != store.MaxRedirectURL {
		t.Fatalf("test URL is %d bytes", n)
	}
	got, err := f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{Refusals: rs}, []string{"refusals"})
	if err != nil || len(got.GetRefusals()) != len(rs) {
		t.Fatalf("%d refusals: %v", len(got.GetRefusals()), err)
	}
}
