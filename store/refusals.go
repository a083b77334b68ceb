package store

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mtlsgate/mtlsgate/contract"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Limits of a site's refusals (ClientCertSettings.refusals).
const (
	// MaxRefusals bounds the refusals of one site.
	MaxRefusals = 32
	// MaxRefusalBody bounds a refusal page's body, in bytes.
	MaxRefusalBody = 64 << 10
	// MaxRedirectURL bounds a refusal's redirect URL, in bytes.
	MaxRedirectURL = 2048
)

// Refusal page content types.
const (
	RefusalText = "text/plain"
	RefusalHTML = "text/html"
)

// normalizeRefusals stores verify_at explicitly (unset: VERIFY_AT_HANDSHAKE)
// and validates the refusals: known reasons, each named once across the
// site, and one bounded, well-formed answer each (a page's content type
// defaults to text/plain).
func normalizeRefusals(s *pb.ClientCertSettings) error {
	switch s.GetVerifyAt() {
	case pb.VerifyAt_VERIFY_AT_UNSPECIFIED:
		s.VerifyAt = pb.VerifyAt_VERIFY_AT_HANDSHAKE
	case pb.VerifyAt_VERIFY_AT_HANDSHAKE, pb.VerifyAt_VERIFY_AT_REQUEST:
	default:
		return invalid("verify_at", "unknown value %d (VERIFY_AT_HANDSHAKE or VERIFY_AT_REQUEST)", s.GetVerifyAt())
	}
	if n := len(s.GetRefusals()); n > MaxRefusals {
		return invalid("refusals", "at most %d refusals, got %d", MaxRefusals, n)
	}
	named := map[string]string{} // reason word → the field naming it
	for i, r := range s.GetRefusals() {
		field := fmt.Sprintf("refusals[%d]", i)
		if r == nil {
			return invalid(field, "is empty")
		}
		if err := checkRefusalReasons(r, field, named); err != nil {
			return err
		}
		if err := checkRefusalAnswer(r, field); err != nil {
			return err
		}
	}
	return nil
}

// checkRefusalReasons validates and sorts r's reasons ("no_certificate" is
// stored as "none"), recording each in named.
func checkRefusalReasons(r *pb.Refusal, field string, named map[string]string) error {
	if len(r.GetReasons()) == 0 {
		return invalid(field+".reasons", "name at least one reason (a reason word, %q or %q)", contract.RefusalNone, contract.RefusalOther)
	}
	if len(r.GetReasons()) > len(contract.Reasons)+1 {
		return invalid(field+".reasons", "names %d reasons; there are %d", len(r.GetReasons()), len(contract.Reasons))
	}
	for j, word := range r.GetReasons() {
		at := fmt.Sprintf("%s.reasons[%d]", field, j)
		if word == string(contract.ReasonNoCertificate) {
			word = contract.RefusalNone
		}
		if err := checkRefusalReason(word); err != nil {
			return invalid(at, "%w", err)
		}
		if prev, dup := named[word]; dup {
			return invalid(at, "%q is already named by %s", word, prev)
		}
		named[word] = at
		r.Reasons[j] = word
	}
	slices.Sort(r.Reasons)
	return nil
}

// checkRefusalReason accepts a word a refusal may name.
func checkRefusalReason(word string) error {
	switch {
	case word == contract.RefusalNone || word == contract.RefusalOther:
		return nil
	case !contract.Known(contract.Reason(word)):
		return fmt.Errorf("unknown reason %q (known: %s, %s, %s)", cutText(word, 64), contract.RefusalNone, contract.RefusalOther, RefusableReasons())
	case contract.Unrefusable(contract.Reason(word)):
		return fmt.Errorf("reason %q is never answered by a site's refusal", word)
	}
	return nil
}

// RefusableReasons lists the reason words a refusal may name besides
// "none" and "*", comma-separated.
func RefusableReasons() string {
	var words []string
	for _, r := range contract.Reasons {
		if !contract.Unrefusable(r) && r != contract.ReasonNoCertificate {
			words = append(words, string(r))
		}
	}
	return strings.Join(words, ", ")
}

// checkRefusalAnswer validates r's page or redirect.
func checkRefusalAnswer(r *pb.Refusal, field string) error {
	switch a := r.GetAnswer().(type) {
	case *pb.Refusal_Page:
		return checkRefusalPage(a.Page, field+".page")
	case *pb.Refusal_RedirectUrl:
		if err := CheckRedirectURL(a.RedirectUrl); err != nil {
			return invalid(field+".redirect_url", "%w", err)
		}
		return nil
	}
	return invalid(field, "give a page or a redirect_url")
}

// checkRefusalPage validates a page and stores its default content type.
func checkRefusalPage(p *pb.RefusalPage, field string) error {
	if p == nil {
		return invalid(field, "is empty")
	}
	if c := p.GetStatus(); c != 0 && (c < 400 || c > 599) {
		return invalid(field+".status", "must be 0 (the site's status for the reason) or 400 to 599, got %d", c)
	}
	switch p.GetContentType() {
	case "":
		p.ContentType = RefusalText
	case RefusalText, RefusalHTML:
	default:
		return invalid(field+".content_type", "must be %q or %q, got %q", RefusalText, RefusalHTML, cutText(p.GetContentType(), 64))
	}
	if n := len(p.GetBody()); n > MaxRefusalBody {
		return invalid(field+".body", "is %d bytes, at most %d", n, MaxRefusalBody)
	}
	if !utf8.ValidString(p.GetBody()) {
		return invalid(field+".body", "is not valid UTF-8")
	}
	return nil
}

// CheckRedirectURL accepts an absolute http(s) URL with a host, without
// credentials, of printable ASCII (no spaces: percent-encode the rest),
// at most MaxRedirectURL bytes. "{reason}" may appear anywhere; the URL
// must be valid with any reason word in its place.
func CheckRedirectURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("is empty")
	}
	if len(raw) > MaxRedirectURL {
		return fmt.Errorf("is %d bytes, at most %d", len(raw), MaxRedirectURL)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("byte %d is not printable ASCII (percent-encode spaces and other characters)", i)
		}
	}
	// Reason words are [a-z_]: one stands for all.
	u, err := url.Parse(strings.ReplaceAll(raw, contract.RefusalPlaceholder, string(contract.ReasonNotYetValid)))
	if err != nil {
		return fmt.Errorf("is not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must start with http:// or https://")
	case u.Opaque != "" || u.Hostname() == "":
		return fmt.Errorf("must name a host (http(s)://host/...)")
	case u.User != nil:
		return fmt.Errorf("must not carry credentials")
	}
	return nil
}

// cutText is s cut to at most n bytes at a character boundary, for error
// messages quoting user input.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
