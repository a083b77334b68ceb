package store

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mtlsgate/mtlsgate/contract"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// FuzzRefusalInput: whatever a caller sends as a refusal (two reason
// words, a page's status, content type and body, or a redirect URL),
// validation neither panics nor accepts a refusal that breaks its rules:
// known, refusable reasons named once; a page of a known content type,
// bounded UTF-8 and a status 0 or 400..599; or a bounded printable
// http(s) URL with a host.
func FuzzRefusalInput(f *testing.F) {
	f.Add("none", "*", uint32(0), "", "<p>{reason}</p>", "", false)
	f.Add("untrusted", "expired", uint32(0), "", "", "https://enroll.example.com/?r={reason}", true)
	f.Add("no_certificate", "none", uint32(403), "text/html", "x", "", false)
	f.Add("unknown_site", "", uint32(600), "text/json", "\xff", "", false)
	f.Add("revoked", "", uint32(0), "", "", "https://{reason}.example.com:99999/", true)
	f.Add("revoked", "", uint32(0), "", "", "http://u@h/\r\n", true)
	f.Fuzz(func(t *testing.T, r1, r2 string, status uint32, ctype, body, url string, isRedirect bool) {
		reasons := []string{r1}
		if r2 != "" {
			reasons = append(reasons, r2)
		}
		r := &pb.Refusal{Reasons: reasons}
		if isRedirect {
			r.Answer = &pb.Refusal_RedirectUrl{RedirectUrl: url}
		} else {
			r.Answer = &pb.Refusal_Page{Page: &pb.RefusalPage{Status: status, ContentType: ctype, Body: body}}
		}
		s := &pb.ClientCertSettings{Refusals: []*pb.Refusal{r}}
		if err := normalizeRefusals(s); err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("refusal is not a ValidationError: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, w := range r.GetReasons() {
			if seen[w] || w == string(contract.ReasonNoCertificate) ||
				(w != contract.RefusalNone && w != contract.RefusalOther && (!contract.Known(contract.Reason(w)) || contract.Unrefusable(contract.Reason(w)))) {
				t.Fatalf("accepted reasons %q", r.GetReasons())
			}
			seen[w] = true
		}
		if s.GetVerifyAt() != pb.VerifyAt_VERIFY_AT_HANDSHAKE {
			t.Fatalf("verify_at %v", s.GetVerifyAt())
		}
		if isRedirect {
			u := r.GetRedirectUrl()
			if len(u) > MaxRedirectURL || strings.ContainsAny(u, " \r\n\t\x00\x7f") ||
				!(strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) {
				t.Fatalf("accepted URL %q", u)
			}
			return
		}
		p := r.GetPage()
		if (p.GetStatus() != 0 && (p.GetStatus() < 400 || p.GetStatus() > 599)) || len(p.GetBody()) > MaxRefusalBody ||
			!utf8.ValidString(p.GetBody()) || (p.GetContentType() != RefusalText && p.GetContentType() != RefusalHTML) {
			t.Fatalf("accepted page %v", p)
		}
	})
}
