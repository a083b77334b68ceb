package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// policyEdit is one change to a site's pins or access rules.
type policyEdit struct {
	// mask is the one update-mask path written: "pins" or "access_rules".
	mask string
	// apply makes the change on the settings in force; a fieldError is
	// shown next to its field and nothing is sent.
	apply func(cur *pb.ClientCertSettings) error
	// fieldOf names the form field an API refusal is about.
	fieldOf func(msg string, code codes.Code) string
	// state is the form as posted; errs are its errors by field.
	state *policyState
	errs  map[string]string
	// done is the ?policy= notice of a change made.
	done string
}

// fieldError is an error about one field of a pins or rules form.
type fieldError struct{ field, msg string }

func (e fieldError) Error() string { return e.msg }

// fieldErrorf is a fieldError with a formatted message.
func fieldErrorf(field, format string, args ...any) error {
	return fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// staleMessage refuses a change made on a list that has changed since.
func staleMessage(mask string) string {
	what := "pins"
	if mask == "access_rules" {
		what = "access rules"
	}
	return "The " + what + " changed since you loaded the page; nothing was saved. " +
		"The list below is the one in force now (as a reload would show it): check it and try again."
}

// policySave makes e on the site of r: it reads the settings, refuses a
// form whose base is not the list in force (someone changed it since the
// page was loaded), applies e and writes e.mask alone. The check and the
// write are two calls, so two saves in the same instant can still meet;
// the base catches every change made before the form is sent.
func (c *Console) policySave(w http.ResponseWriter, r *http.Request, s *session, e policyEdit) {
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
	if r.PostFormValue("list_base") != policyBase(e.mask, cur) {
		e.errs["list"] = staleMessage(e.mask)
		c.sitePage(w, r, s, http.StatusConflict, pageState{policy: e.state})
		return
	}
	if err := e.apply(cur); err != nil {
		var fe fieldError
		if !errors.As(err, &fe) {
			fe = fieldError{field: "list", msg: err.Error()}
		}
		e.errs[fe.field] = fe.msg
		c.sitePage(w, r, s, http.StatusUnprocessableEntity, pageState{policy: e.state})
		return
	}
	next := &pb.ClientCertSettings{Pins: cur.GetPins()}
	if e.mask == "access_rules" {
		next = &pb.ClientCertSettings{AccessRules: cur.GetAccessRules()}
	}
	_, err = c.api.UpdateSiteSettings(ctx, &pb.UpdateSiteSettingsRequest{Hostname: host, Settings: next, UpdateMask: []string{e.mask}})
	if err == nil {
		http.Redirect(w, r, sitePath(host)+"?policy="+e.done+"#policy-heading", http.StatusSeeOther)
		return
	}
	c.policyRefused(w, r, s, e, err)
}

// policyRefused shows the API's refusal of e: a validation or limit
// error next to the field it concerns, with what was typed kept; any
// other (a permission refusal) at the top of the page, with the lists in
// force.
func (c *Console) policyRefused(w http.ResponseWriter, r *http.Request, s *session, e policyEdit, err error) {
	if c.apiFailed(w, r, err) {
		return
	}
	msg, code := status.Convert(err).Message(), status.Code(err)
	st := pageState{policy: e.state, pageError: msg}
	switch code {
	case codes.PermissionDenied:
		st.policy = nil
	case codes.InvalidArgument, codes.ResourceExhausted:
		e.errs[e.fieldOf(msg, code)] = msg
		st.pageError = "The API refused the change; nothing was saved."
		c.sitePage(w, r, s, http.StatusUnprocessableEntity, st)
		return
	}
	c.sitePage(w, r, s, httpCode(err), st)
}

// apiPath is the field path an API validation message starts with
// ("pins[2].identity" of "settings.pins[2].identity: ..."), or "".
func apiPath(msg string) string {
	path, _, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsRune(path, ' ') {
		return ""
	}
	return strings.TrimPrefix(path, "settings.")
}
