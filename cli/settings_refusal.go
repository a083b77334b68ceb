package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Refusals (docs/identities.md, "Refused kindly"): where an enforcing site
// verifies (site set verify_at=...), and how it answers the requests it
// refuses ("refusal set|clear").

// refusalSettingKeys are the "site set" keys of refusals.
var refusalSettingKeys = []settingKey{
	// Enforce mode only: where the certificate is verified. (The allowed
	// text is the bare choices, for shell completion.)
	{"verify_at", choices[pb.VerifyAt](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&s.VerifyAt, v)
	}},
}

// Bounds the CLI checks before sending (the API checks them too).
const (
	maxRefusalPage = 64 << 10
	refusalMask    = "refusals"
)

// refusalFields renders verify_at and a summary of each refusal.
func refusalFields(s *pb.ClientCertSettings) []field {
	var lines []string
	for _, r := range s.GetRefusals() {
		lines = append(lines, refusalText(r))
	}
	return append([]field{{key: "verify_at", value: enumName(s.GetVerifyAt())}}, listFields("refusals", lines)...)
}

// refusalText is one refusal in a line: its reasons, then its page
// (status, type, size) or redirect.
func refusalText(r *pb.Refusal) string {
	reasons := strings.Join(r.GetReasons(), ",")
	if u := r.GetRedirectUrl(); u != "" {
		return reasons + ": redirect " + u
	}
	p := r.GetPage()
	status := "the site's status"
	if p.GetStatus() != 0 {
		status = strconv.FormatUint(uint64(p.GetStatus()), 10)
	}
	return fmt.Sprintf("%s: page %s, %s, %d bytes", reasons, status, p.GetContentType(), len(p.GetBody()))
}

// refusalSet is "refusal set HOST --reason R... (--page FILE
// [--content-type text/html] [--status N] | --redirect URL)": the reasons
// leave any refusal naming them (one left naming none goes), and a new
// refusal names them all. The site's refusals are read, edited and sent
// back whole (update mask refusals).
func refusalSet(fs *flag.FlagSet) action {
	var reasons stringList
	fs.Var(&reasons, "reason", `a reason word, "none" (no certificate) or "*" (every other reason); repeatable`)
	page := fs.String("page", "", "file with the page's body (UTF-8, at most 64 KiB; - reads stdin); {reason} is replaced")
	ctype := fs.String("content-type", "", "the page's type: text/plain (default) or text/html")
	status := fs.Uint("status", 0, "the page's status, 400 to 599 (default: the site's status for the reason)")
	redirect := fs.String("redirect", "", "answer 302 to this absolute http(s) URL instead; {reason} is replaced")
	return func(ctx context.Context, s *session, args []string) error {
		r, err := newRefusal(s, reasons, *page, *ctype, *status, *redirect)
		if err != nil {
			return err
		}
		return editRefusals(ctx, s, args[0], func(cur []*pb.Refusal) []*pb.Refusal {
			return append(withoutReasons(cur, r.GetReasons()), r)
		})
	}
}

// refusalClear is "refusal clear HOST [--reason R...]": without
// reasons every refusal goes; with them, those reasons leave their
// refusals (a refusal left naming none goes).
func refusalClear(fs *flag.FlagSet) action {
	var reasons stringList
	fs.Var(&reasons, "reason", "a reason to clear (default: every refusal); repeatable")
	return func(ctx context.Context, s *session, args []string) error {
		words := normReasons(reasons)
		return editRefusals(ctx, s, args[0], func(cur []*pb.Refusal) []*pb.Refusal {
			if len(words) == 0 {
				return nil
			}
			return withoutReasons(cur, words)
		})
	}
}

// newRefusal checks the flags of "refusal set" and builds its
// refusal.
func newRefusal(s *session, reasons []string, page, ctype string, status uint, redirect string) (*pb.Refusal, error) {
	words := normReasons(reasons)
	switch {
	case len(words) == 0:
		return nil, usagef(`name at least one --reason (a reason word, "none" or "*")`)
	case (page == "") == (redirect == ""):
		return nil, usagef("give one of --page FILE or --redirect URL")
	case redirect != "" && (ctype != "" || status != 0):
		return nil, usagef("--content-type and --status go with --page, not --redirect")
	case ctype != "" && ctype != "text/plain" && ctype != "text/html":
		return nil, usagef("bad value %q for --content-type: want text/plain or text/html", ctype)
	case status != 0 && (status < 400 || status > 599):
		return nil, usagef("bad value %d for --status: want 400 to 599", status)
	}
	if redirect != "" {
		return &pb.Refusal{Reasons: words, Answer: &pb.Refusal_RedirectUrl{RedirectUrl: redirect}}, nil
	}
	body, err := s.load(page)
	if err != nil {
		return nil, err
	}
	if len(body) > maxRefusalPage || !utf8.Valid(body) {
		return nil, usagef("%s: a page is at most 64 KiB of UTF-8 (%d bytes read)", page, len(body))
	}
	return &pb.Refusal{Reasons: words, Answer: &pb.Refusal_Page{Page: &pb.RefusalPage{
		Status: uint32(status), ContentType: ctype, Body: string(body)}}}, nil
}

// normReasons spells no_certificate "none", as the API stores it, and
// drops repeats.
func normReasons(in []string) []string {
	var out []string
	for _, w := range in {
		if w == "no_certificate" {
			w = "none"
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// withoutReasons returns copies of refusals without the given reasons,
// dropping those left naming none.
func withoutReasons(refusals []*pb.Refusal, reasons []string) []*pb.Refusal {
	var out []*pb.Refusal
	for _, r := range refusals {
		keep := slices.DeleteFunc(slices.Clone(r.GetReasons()), func(w string) bool { return slices.Contains(reasons, w) })
		if len(keep) == 0 {
			continue
		}
		c := proto.Clone(r).(*pb.Refusal)
		c.Reasons = keep
		out = append(out, c)
	}
	return out
}

// editRefusals reads a site's refusals, edits them and sends them back
// with update mask refusals, then prints the settings.
func editRefusals(ctx context.Context, s *session, host string, edit func([]*pb.Refusal) []*pb.Refusal) error {
	c, err := s.api()
	if err != nil {
		return err
	}
	cur, err := c.GetSiteSettings(ctx, &pb.GetSiteRequest{Hostname: host})
	if err != nil {
		return err
	}
	settings, err := c.UpdateSiteSettings(ctx, &pb.UpdateSiteSettingsRequest{Hostname: host,
		Settings: &pb.ClientCertSettings{Refusals: edit(cur.GetRefusals())}, UpdateMask: []string{refusalMask}})
	if err != nil {
		return err
	}
	return s.printSettings(host, settings)
}
