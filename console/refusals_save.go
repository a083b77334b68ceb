package console

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// refusal reads the add form into a refusal, or says which field is
// wrong and why (the API checks everything again).
func (f *refusalForm) refusal() (*pb.Refusal, string, string) {
	var reasons []string
	for _, w := range strings.FieldsFunc(f.reasons, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		if w == "no_certificate" {
			w = "none"
		}
		if !slices.Contains(reasons, w) {
			reasons = append(reasons, w)
		}
	}
	if len(reasons) == 0 {
		return nil, "reasons", `name at least one reason (a reason word, "none" or "*")`
	}
	switch f.answer {
	case "redirect":
		if f.redirect == "" {
			return nil, "redirect", "give the URL to redirect to"
		}
		return &pb.Refusal{Reasons: reasons, Answer: &pb.Refusal_RedirectUrl{RedirectUrl: f.redirect}}, "", ""
	case "page":
	default:
		return nil, "answer", "choose a page or a redirect"
	}
	var code uint64
	if s := strings.TrimSpace(f.status); s != "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n < 400 || n > 599 {
			return nil, "status", "a status is a number from 400 to 599 (or empty: the site's status)"
		}
		code = n
	}
	if len(f.body) > maxRefusalBody {
		return nil, "body", "a page is at most 64 KiB"
	}
	ctype := "text/plain"
	if f.ctype == "text/html" {
		ctype = "text/html"
	}
	return &pb.Refusal{Reasons: reasons, Answer: &pb.Refusal_Page{Page: &pb.RefusalPage{
		Status: uint32(code), ContentType: ctype, Body: f.body}}}, "", ""
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

// refusalSave reads the site's refusals, refuses a form whose list_base
// is not the list in force, applies edit (which may refuse, naming a
// field) and writes mask refusals alone; done is the ?refusal= notice.
func (c *Console) refusalSave(w http.ResponseWriter, r *http.Request, s *session, f *refusalForm, done string,
	edit func([]*pb.Refusal) ([]*pb.Refusal, string, string)) {
	host := r.PathValue("host")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	cur, err := c.api.GetSiteSettings(ctx, &pb.GetSiteRequest{Hostname: host})
	if c.apiFailed(w, r, err) {
		return
	}
	if err != nil {
		c.sitePage(w, r, s, httpCode(err), pageState{pageError: status.Convert(err).Message()})
		return
	}
	if r.PostFormValue("list_base") != refusalsBase(cur) {
		f.errs["list"] = "The refusals changed since you loaded the page; nothing was saved. " +
			"The list below is the one in force now: check it and try again."
		c.sitePage(w, r, s, http.StatusConflict, pageState{refusal: f})
		return
	}
	next, field, msg := edit(cur.GetRefusals())
	if field != "" {
		f.errs[field] = msg
		c.sitePage(w, r, s, http.StatusUnprocessableEntity, pageState{refusal: f})
		return
	}
	_, err = c.api.UpdateSiteSettings(ctx, &pb.UpdateSiteSettingsRequest{Hostname: host,
		Settings: &pb.ClientCertSettings{Refusals: next}, UpdateMask: []string{"refusals"}})
	if err == nil {
		http.Redirect(w, r, sitePath(host)+"?refusal="+done+"#refusals-heading", http.StatusSeeOther)
		return
	}
	if c.apiFailed(w, r, err) {
		return
	}
	msg, code := status.Convert(err).Message(), status.Code(err)
	if code != codes.InvalidArgument {
		c.sitePage(w, r, s, httpCode(err), pageState{pageError: msg})
		return
	}
	f.errs[refusalFieldOf(apiPath(msg))] = msg
	c.sitePage(w, r, s, http.StatusUnprocessableEntity, pageState{refusal: f, pageError: "The API refused the change; nothing was saved."})
}

// refusalFieldOf is the add form's field an API path is about
// ("refusals[2].page.status" is the status field).
func refusalFieldOf(path string) string {
	for suffix, field := range map[string]string{".reasons": "reasons", ".page.status": "status", ".page.body": "body",
		".page.content_type": "body", ".redirect_url": "redirect"} {
		if i := strings.LastIndex(path, suffix); i >= 0 && !strings.Contains(path[i+len(suffix):], ".") {
			return field
		}
	}
	return "list"
}
