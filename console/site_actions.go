package console

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// siteRights are the site page's controls the session's token may use,
// as docs/api.md's permission table gives them. They only decide what is
// offered: the API checks every call.
type siteRights struct {
	assign, settings bool
	// change: UpdateSite and DeleteSite (admins only, api/permissions.go).
	change bool
}

// rights asks the API who the session's token is (WhoAmI) and derives
// what it may do on host; nothing is offered when that fails.
func (c *Console) rights(ctx context.Context, host string) siteRights {
	tok, err := c.api.WhoAmI(ctx, &pb.WhoAmIRequest{})
	if err != nil {
		return siteRights{}
	}
	switch tok.GetRole() {
	case pb.Role_ROLE_ADMIN:
		return siteRights{assign: true, settings: true, change: true}
	case pb.Role_ROLE_CA_MANAGER:
		return siteRights{assign: true}
	case pb.Role_ROLE_SITE_MANAGER:
		in := slices.Contains(tok.GetSites(), host)
		return siteRights{assign: in, settings: in}
	}
	return siteRights{}
}

// siteSettings saves the settings form with UpdateSiteSettings, naming
// in the update mask exactly the fields that changed. A refusal is shown
// next to the field it names, with the user's input kept.
func (c *Console) siteSettings(w http.ResponseWriter, r *http.Request, s *session) {
	host := r.PathValue("host")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	current, err := c.api.GetSiteSettings(ctx, &pb.GetSiteRequest{Hostname: host})
	if c.apiFailed(w, r, err) {
		return
	}
	if err != nil {
		c.sitePage(w, r, s, httpCode(err), pageState{pageError: status.Convert(err).Message()})
		return
	}
	// Changed means changed from what the form showed (its base), so a
	// field someone else changed meanwhile is left as they set it.
	base := r.PostFormValue("base")
	if shown, ok := settingsOfBase(base); ok {
		current = shown
	} else {
		base = ""
	}
	vals := postedValues(r)
	next, mask, errs := parseSettingsForm(vals, current)
	form := &formState{vals: vals, errs: errs, base: base}
	switch {
	case len(errs) > 0:
		c.sitePage(w, r, s, http.StatusUnprocessableEntity, pageState{form: form,
			pageError: "Some settings could not be read; nothing was saved."})
		return
	case len(mask) == 0:
		c.sitePage(w, r, s, http.StatusOK, pageState{form: form, notice: "Nothing changed."})
		return
	}
	_, err = c.api.UpdateSiteSettings(ctx, &pb.UpdateSiteSettingsRequest{Hostname: host, Settings: next, UpdateMask: mask})
	if err == nil {
		http.Redirect(w, r, sitePath(host)+"?saved="+strings.Join(mask, ","), http.StatusSeeOther)
		return
	}
	if c.apiFailed(w, r, err) {
		return
	}
	msg := status.Convert(err).Message()
	st := pageState{form: form, pageError: msg}
	if status.Code(err) == codes.PermissionDenied {
		st.form = nil // show what is in force, not what was refused
	}
	if f := fieldOfError(msg); f != "" && status.Code(err) == codes.InvalidArgument {
		errs[f] = msg
		st.pageError = "The API refused the settings; nothing was saved."
	}
	c.sitePage(w, r, s, httpCode(err), st)
}

// siteAssign assigns the chosen CA with AssignSiteCAs.
func (c *Console) siteAssign(w http.ResponseWriter, r *http.Request, s *session) {
	c.siteCAs(w, r, s, true)
}

// siteUnassign unassigns a CA with UnassignSiteCAs.
func (c *Console) siteUnassign(w http.ResponseWriter, r *http.Request, s *session) {
	c.siteCAs(w, r, s, false)
}

func (c *Console) siteCAs(w http.ResponseWriter, r *http.Request, s *session, assign bool) {
	host, id := r.PathValue("host"), strings.TrimSpace(r.PostFormValue("ca_id"))
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	req := &pb.SiteCAsRequest{Hostname: host, CaIds: []string{id}}
	var err error
	if assign {
		_, err = c.api.AssignSiteCAs(ctx, req)
	} else {
		_, err = c.api.UnassignSiteCAs(ctx, req)
	}
	switch {
	case err == nil:
		http.Redirect(w, r, sitePath(host), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	case status.Code(err) == codes.PermissionDenied:
		c.sitePage(w, r, s, http.StatusForbidden, pageState{pageError: status.Convert(err).Message()})
	default:
		c.sitePage(w, r, s, httpCode(err), pageState{assignErr: status.Convert(err).Message()})
	}
}
