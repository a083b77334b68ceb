package console

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Refusals (docs/identities.md, "Refused kindly"): the settings form's
// verify_at select, and the site page's refusals part, which lists the
// site's refusals and adds or removes one at a time (update mask
// refusals, read-modify-write guarded by the list's base).

// verifyAtField is the settings form's verify_at select. A site stored
// before the field existed reads as the default it has in effect
// (handshake), so that its form is unchanged until the user changes it.
var verifyAtField = func() settingField {
	f := enumField("verify_at", "Where enforce mode verifies",
		"enforce mode only: handshake (Envoy requires the certificate: a refused client gets a TLS error) or "+
			"request (any certificate connects and ext_authz refuses with the refusals below, which a browser can show)",
		func(s *pb.ClientCertSettings) *pb.VerifyAt { return &s.VerifyAt })
	get := f.get
	f.get = func(s *pb.ClientCertSettings) string {
		if s.GetVerifyAt() == pb.VerifyAt_VERIFY_AT_UNSPECIFIED {
			return pb.VerifyAt_VERIFY_AT_HANDSHAKE.String()
		}
		return get(s)
	}
	return f
}()

// maxRefusalBody bounds a page typed in the form (the API's limit).
const maxRefusalBody = 64 << 10

// refusalsView is the site page's refusals part.
type refusalsView struct {
	Path string
	// AtRequest: the site enforces and verifies at the request, the
	// setting under which refusals of a certificate are seen at all.
	AtRequest, Enforcing bool
	Rows                 []refusalRow
	// Base is the forms' list_base (refusalsBase).
	Base, AddCSRF, RemoveCSRF string
	CanEdit                   bool
	Notice, ListError         string
	Form                      refusalFormView
}

// refusalRow is one refusal in the table.
type refusalRow struct {
	Index   int
	Reasons string
	// Redirect is a redirect's URL; else the page's Status ("" : the
	// site's), ContentType, Size and the start of its Body.
	Redirect, Status, ContentType, Preview string
	Size                                   int
}

// refusalForm is the add form as posted; errs are by field.
type refusalForm struct {
	reasons, answer, status, ctype, body, redirect string
	errs                                           map[string]string
}

// refusalFormView is the add form as the template renders it.
type refusalFormView struct {
	Reasons, Answer, Status, Body, Redirect fieldView
	HTML                                    bool
	Error                                   string
}

// refusalNotices are the notices of ?refusal= after a change.
var refusalNotices = map[string]string{"added": "Refusal saved.", "removed": "Refusal removed."}

// refusalsViewOf is the refusals part of site's page for a session that
// may (canEdit) or may not change them; st is the add form as posted.
func refusalsViewOf(r *http.Request, s *session, site *pb.Site, canEdit bool, st *refusalForm) refusalsView {
	set := site.GetSettings()
	host := site.GetHostname()
	v := refusalsView{Path: sitePath(host), Base: refusalsBase(set), CanEdit: canEdit,
		Enforcing: set.GetMode() == pb.Mode_MODE_ENFORCE,
		AtRequest: set.GetMode() == pb.Mode_MODE_ENFORCE && set.GetVerifyAt() == pb.VerifyAt_VERIFY_AT_REQUEST,
		AddCSRF:   csrfToken(s, prefix+"sites/"+host+"/refusals/add"), RemoveCSRF: csrfToken(s, prefix+"sites/"+host+"/refusals/remove")}
	for i, rf := range set.GetRefusals() {
		v.Rows = append(v.Rows, refusalRowOf(i, rf))
	}
	if st == nil {
		st = &refusalForm{answer: "page"}
		if r.Method == http.MethodGet {
			v.Notice = refusalNotices[r.URL.Query().Get("refusal")]
		}
	}
	v.ListError = st.errs["list"]
	v.Form = st.view()
	return v
}

// refusalRowOf is refusal i as a row.
func refusalRowOf(i int, rf *pb.Refusal) refusalRow {
	row := refusalRow{Index: i, Reasons: strings.Join(rf.GetReasons(), ", "), Redirect: rf.GetRedirectUrl()}
	if p := rf.GetPage(); p != nil {
		row.ContentType, row.Size = p.GetContentType(), len(p.GetBody())
		if p.GetStatus() != 0 {
			row.Status = strconv.Itoa(int(p.GetStatus()))
		}
		row.Preview = p.GetBody()
		if len(row.Preview) > 120 {
			n := 120
			for n > 0 && !utf8.RuneStart(row.Preview[n]) {
				n--
			}
			row.Preview = row.Preview[:n] + "…"
		}
	}
	return row
}

// view renders the add form with what was typed and its errors.
func (f *refusalForm) view() refusalFormView {
	fv := func(name, id, label, help, kind, value string) fieldView {
		return fieldView{Name: name, ID: id, Label: label, Help: help, Kind: kind, Value: value, Error: f.errs[name]}
	}
	return refusalFormView{
		Reasons: fv("reasons", "refusal-reasons", "Reasons", `reason words separated by commas or spaces: "none" (no certificate), `+
			`untrusted, expired, revoked, not_allowed... or "*" for every reason no other refusal names`, "text", f.reasons),
		Answer: fv("answer", "refusal-answer", "Answer", "", "select", f.answer),
		Status: fv("status", "refusal-status", "Status (optional)", "400 to 599; empty: the status the site refuses that reason with", "text", f.status),
		Body: fv("body", "refusal-body", "Page", `at most 64 KiB; {reason} is replaced by the reason word`,
			"list", f.body),
		Redirect: fv("redirect", "refusal-redirect", "Redirect URL", "an absolute http(s) URL answered with 302; {reason} is replaced", "text", f.redirect),
		HTML:     f.ctype == "text/html",
		Error:    f.errs["answer"],
	}
}

// refusalsBase digests a site's refusals, posted back as list_base: a
// change made on a list that has changed since is refused.
func refusalsBase(s *pb.ClientCertSettings) string {
	h := sha256.New()
	for _, r := range s.GetRefusals() {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// refusalRoutes adds the routes of the refusal forms.
func (c *Console) refusalRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /ui/sites/{host}/refusals/add", c.signedIn(c.refusalAdd))
	m.HandleFunc("POST /ui/sites/{host}/refusals/remove", c.signedIn(c.refusalRemove))
}

// refusalAdd adds one refusal; the reasons it names leave the refusals
// naming them (one left with none goes), as "mtlsgate refusal set" does.
func (c *Console) refusalAdd(w http.ResponseWriter, r *http.Request, s *session) {
	f := &refusalForm{reasons: r.PostFormValue("reasons"), answer: r.PostFormValue("answer"), status: r.PostFormValue("status"),
		ctype: r.PostFormValue("content_type"), body: strings.ReplaceAll(r.PostFormValue("body"), "\r\n", "\n"),
		redirect: strings.TrimSpace(r.PostFormValue("redirect")), errs: map[string]string{}}
	add, field, msg := f.refusal()
	c.refusalSave(w, r, s, f, "added", func(cur []*pb.Refusal) ([]*pb.Refusal, string, string) {
		if add == nil {
			return nil, field, msg
		}
		return append(withoutReasons(cur, add.GetReasons()), add), "", ""
	})
}

// refusalRemove removes the refusal at the posted index.
func (c *Console) refusalRemove(w http.ResponseWriter, r *http.Request, s *session) {
	f := &refusalForm{answer: "page", errs: map[string]string{}}
	i, err := strconv.Atoi(r.PostFormValue("index"))
	c.refusalSave(w, r, s, f, "removed", func(cur []*pb.Refusal) ([]*pb.Refusal, string, string) {
		if err != nil || i < 0 || i >= len(cur) {
			return nil, "list", "there is no such refusal on this site"
		}
		return append(cur[:i:i], cur[i+1:]...), "", ""
	})
}
