package console

import (
	"html/template"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Shapes the identity, issuing and webhook pages share: a facts list, a
// text field with its error, a confirmation page, and the mapping of an
// API refusal to the form field it names (templates/_shared.html).

func init() {
	for name, t := range parseShared("confirm") {
		pages[name] = t
	}
}

// parseShared parses pages with the layout and the shared partials.
func parseShared(names ...string) map[string]*template.Template {
	out := parsePages(names...)
	for n, t := range out {
		out[n] = template.Must(t.ParseFS(templateFS, "templates/_shared.html"))
	}
	return out
}

// fact is one line of a facts list; Code shows its value as code.
type fact struct {
	Label, Value string
	Code         bool
}

// textField is one text control of a form with its error.
type textField struct {
	Name, ID, Label, Help, Value, Error string
	// Type is the input's type ("" : text).
	Type string
}

// formErrs are a form's errors by field name.
type formErrs map[string]string

// field is the text control name of a form: its value and its error.
func (e formErrs) field(name, id, label, value string) textField {
	return textField{Name: name, ID: id, Label: label, Value: value, Error: e[name], Type: "text"}
}

// confirmData is a confirmation page's data: what is about to happen to
// one object, and the form that does it. A GET of it changes nothing.
type confirmData struct {
	navFlags
	// Action is the form's target; "" shows only the way back (the
	// object is gone, or the role may not).
	Action, CSRF string
	Facts        []fact
	// Question is the sentence asked; Button and ButtonID the submit's.
	Question, Button, ButtonID string
	// Back is where Cancel (and the way back) go; BackLabel names it.
	Back, BackLabel string
}

// confirmPage renders a confirmation page; pageErr (with its code) says
// why it cannot be done.
func (c *Console) confirmPage(w http.ResponseWriter, s *session, title, nav string, code int, d confirmData, pageErr string) {
	v := signedInView(s, title, nav)
	v.Error = pageErr
	if pageErr != "" {
		d.Action = ""
	} else {
		d.CSRF = csrfToken(s, d.Action)
	}
	v.Data = d
	c.render(w, code, "confirm", v)
}

// refusalField is the form field an API refusal concerns and its message:
// the field an INVALID_ARGUMENT names ("name: ...", "a.b[2]: ..." through
// fields), else fallback; fallback for ALREADY_EXISTS and
// RESOURCE_EXHAUSTED; "" (the page) for the rest.
func refusalField(err error, fields map[string]string, fallback string) (field, msg string) {
	msg = apiMessage(err)
	switch status.Code(err) {
	case codes.InvalidArgument:
		if name, _, ok := strings.Cut(msg, ": "); ok {
			if i := strings.IndexByte(name, '['); i >= 0 {
				name = name[:i]
			}
			if f, ok := fields[name]; ok {
				return f, msg
			}
		}
		return fallback, msg
	case codes.AlreadyExists, codes.ResourceExhausted:
		return fallback, msg
	}
	return "", msg
}

// actionRefused renders the API's refusal of a confirmed action, with
// the way back.
func (c *Console) actionRefused(w http.ResponseWriter, r *http.Request, s *session, title, nav string, err error, back string) {
	if c.apiFailed(w, r, err) {
		return
	}
	_, navf := c.roleOf(r, s)
	c.confirmPage(w, s, title, nav, statusOf(err), confirmData{navFlags: navf, Back: back, BackLabel: "Back"}, apiMessage(err))
}

// apiMessage is the API's message of err, with the class its code says
// when the message leaves it out (the API trims "not found: " and
// "already exists: " from the store's errors).
func apiMessage(err error) string {
	msg := status.Convert(err).Message()
	switch status.Code(err) {
	case codes.NotFound:
		if !strings.Contains(msg, "not found") && !strings.Contains(msg, "no ") {
			msg += " was not found"
		}
	case codes.AlreadyExists:
		if !strings.Contains(msg, "already") {
			msg = "already exists: " + msg
		}
	}
	return msg
}
