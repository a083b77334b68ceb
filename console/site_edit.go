package console

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// siteEditRoutes adds the routes that change a site's origin, fleets and
// server certificate (UpdateSite), and delete it (DeleteSite,
// site_delete.go).
func (c *Console) siteEditRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /ui/sites/{host}/edit", c.signedIn(c.siteEdit))
	m.HandleFunc("GET /ui/sites/{host}/delete", c.signedIn(c.siteDeleteConfirm))
	m.HandleFunc("POST /ui/sites/{host}/delete", c.signedIn(c.siteDelete))
}

// editTextFields are the edit form's text fields, by form name. Each has
// a hidden "base_<name>" carrying the value the page showed, so a save
// sends only what the user changed.
var editTextFields = []string{"origin_url", "fleets", "chain_path", "key_path"}

// editFileFields are the edit form's file fields (a new chain and key).
var editFileFields = []string{"cert", "key"}

// siteEditView is the site page's edit form (the partial site-edit):
// offered only to the roles that may call UpdateSite and DeleteSite.
type siteEditView struct {
	Path, EditCSRF string
	CanEdit        bool
	// Notice says what the last save did ("Saved: origin_url.").
	Notice string
	// F are the form's controls by form name; Base the hidden values the
	// form was rendered with, by the same names.
	F    map[string]fieldView
	Base map[string]string
}

// siteEditForm is the edit form's state: the values shown or typed
// (files cannot be kept), the values the page showed (base) and the
// messages next to the fields, all by form name.
type siteEditForm struct {
	vals, base, errs map[string]string
	notice           string
}

// siteEditKey keys a posted edit form in the request context, so the site
// page (sitePage, sites.go) shows it again after a refusal.
type siteEditKey struct{}

// editFormOf is the edit form showing site as it is.
func editFormOf(site *pb.Site) siteEditForm {
	f := site.GetServerCertificate().GetFiles()
	v := map[string]string{"origin_url": site.GetOriginUrl(), "fleets": strings.Join(site.GetFleets(), ", "),
		"chain_path": f.GetCertificateChainPath(), "key_path": f.GetPrivateKeyPath()}
	return siteEditForm{vals: v, base: maps.Clone(v), errs: map[string]string{}}
}

// postedEditForm is the edit form as posted.
func postedEditForm(r *http.Request) siteEditForm {
	f := siteEditForm{vals: map[string]string{}, base: map[string]string{}, errs: map[string]string{}}
	for _, n := range editTextFields {
		f.vals[n] = strings.TrimSpace(r.PostFormValue(n))
		f.base[n] = strings.TrimSpace(r.PostFormValue("base_" + n))
	}
	return f
}

// editMask is the update mask of the text fields changed from what the
// form showed: the origin, and the fleets as a set (order, spaces and
// duplicates do not count).
func editMask(f siteEditForm) []string {
	var mask []string
	if f.vals["origin_url"] != f.base["origin_url"] {
		mask = append(mask, "origin_url")
	}
	if !slices.Equal(fleetSet(f.vals["fleets"]), fleetSet(f.base["fleets"])) {
		mask = append(mask, "fleets")
	}
	return mask
}

// chosen says whether a file was chosen for field (an empty file input
// is posted without a file name, as a plain value).
func chosen(r *http.Request, field string) bool {
	return r.MultipartForm != nil && len(r.MultipartForm.File[field]) > 0
}

// editCertificate is the new server certificate the form gives, and its
// source for createFieldOf ("upload" or "files"): an uploaded chain and
// key, or paths changed from those shown; nil when it gives none. What
// cannot be read is put in f.errs.
func editCertificate(r *http.Request, f siteEditForm) (*pb.ServerCertificate, string) {
	paths := f.vals["chain_path"] != f.base["chain_path"] || f.vals["key_path"] != f.base["key_path"]
	if !chosen(r, "cert") && !chosen(r, "key") {
		if !paths {
			return nil, ""
		}
		return &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
			CertificateChainPath: f.vals["chain_path"], PrivateKeyPath: f.vals["key_path"]}}}, "files"
	}
	if paths {
		f.errs["chain_path"] = "give either new files to upload or new paths, not both"
		return nil, "upload"
	}
	chain, cerr := uploaded(r, "cert", "choose the certificate chain file too (PEM, leaf first)")
	key, kerr := uploaded(r, "key", "choose the private key file too (PEM)")
	setErr(f.errs, "cert", cerr)
	setErr(f.errs, "key", kerr)
	if cerr != nil || kerr != nil {
		return nil, "upload"
	}
	return &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
		CertificateChainPem: string(chain), PrivateKeyPem: string(key)}}}, "upload"
}

// siteEdit saves the edit form with UpdateSite, naming in the update mask
// exactly what changed: origin_url and fleets when they differ from what
// the page showed, server_certificate when new files or paths were given.
// Nothing changed, nothing is sent. A refusal is shown next to the field
// it names, with what was typed kept (files must be chosen again).
func (c *Console) siteEdit(w http.ResponseWriter, r *http.Request, s *session) {
	host := r.PathValue("host")
	f := postedEditForm(r)
	cert, source := editCertificate(r, f)
	if len(f.errs) > 0 {
		c.siteEditShow(w, r, s, http.StatusUnprocessableEntity, &f, "Some fields could not be read; nothing was saved.")
		return
	}
	mask := editMask(f)
	if cert != nil {
		mask = append(mask, "server_certificate")
	}
	if len(mask) == 0 {
		f.notice = "Nothing changed; nothing was sent."
		c.siteEditShow(w, r, s, http.StatusOK, &f, "")
		return
	}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	// The check is for those who may edit: anyone else gets the API's
	// refusal, not a stale form.
	if c.mayChangeSites(ctx) {
		if cur, err := c.api.GetSite(ctx, &pb.GetSiteRequest{Hostname: host}); err == nil {
			if stale := staleSiteFields(cur, &f, mask); len(stale) > 0 {
				c.siteEditShow(w, r, s, http.StatusConflict, &f, editStaleMessage(stale))
				return
			}
		}
	}
	site := &pb.Site{Hostname: host, OriginUrl: f.vals["origin_url"], Fleets: splitValues(f.vals["fleets"]), ServerCertificate: cert}
	_, err := c.api.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: site, UpdateMask: mask})
	switch {
	case err == nil:
		http.Redirect(w, r, sitePath(host)+"?edited="+strings.Join(mask, ","), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	case status.Code(err) == codes.PermissionDenied:
		c.siteEditShow(w, r, s, http.StatusForbidden, nil, status.Convert(err).Message())
	default:
		msg := status.Convert(err).Message()
		pageErr := msg
		if field := editFieldOf(err, source); field != "" {
			f.errs[field], pageErr = msg, "The API refused the change; nothing was saved."
		}
		c.siteEditShow(w, r, s, httpCode(err), &f, pageErr)
	}
}

// editFieldOf is the edit form's field an UpdateSite refusal names, as
// the create form maps it (createFieldOf); "" for none of this form's.
func editFieldOf(err error, source string) string {
	if status.Code(err) != codes.InvalidArgument {
		return ""
	}
	field := createFieldOf(status.Convert(err).Message(), source)
	if field == "hostname" {
		return ""
	}
	return field
}

// siteEditShow renders the site page with the edit form f (nil: the site
// as it is) and a page error.
func (c *Console) siteEditShow(w http.ResponseWriter, r *http.Request, s *session, code int, f *siteEditForm, pageErr string) {
	r = r.WithContext(context.WithValue(r.Context(), siteEditKey{}, f))
	c.sitePage(w, r, s, code, pageState{pageError: pageErr})
}

// siteEditViewOf is the edit form of site on r's page: the form posted
// (siteEditShow), or the site as it is with the notice of ?edited=;
// canEdit offers it (siteRights.change).
func siteEditViewOf(r *http.Request, s *session, site *pb.Site, canEdit bool) siteEditView {
	host := site.GetHostname()
	f := editFormOf(site)
	if posted, _ := r.Context().Value(siteEditKey{}).(*siteEditForm); posted != nil {
		f = *posted
	} else {
		f.notice = editedNotice(r.URL.Query().Get("edited"))
	}
	v := siteEditView{Path: sitePath(host), EditCSRF: csrfToken(s, prefix+"sites/"+host+"/edit"),
		CanEdit: canEdit, Notice: f.notice, Base: f.base, F: map[string]fieldView{}}
	for _, name := range append(slices.Clone(editTextFields), editFileFields...) {
		v.F[name] = fieldView{Name: name, ID: "edit-" + strings.ReplaceAll(name, "_", "-"), Label: createLabels[name],
			Value: f.vals[name], Error: f.errs[name]}
	}
	return v
}

// editMaskPaths are the update-mask paths the edit form sends, in order.
var editMaskPaths = []string{"origin_url", "fleets", "server_certificate"}

// editedNotice says which fields a save changed, from the ?edited= list,
// naming only the paths the form sends.
func editedNotice(edited string) string {
	return savedFieldsNotice(edited, func(p string) bool { return slices.Contains(editMaskPaths, p) })
}

// mayChangeSites says whether the session's token may call UpdateSite
// and DeleteSite: admins only, on any site (api/permissions.go; a
// site-manager may not, even on its own sites). It only decides what is
// offered: the API checks every call.
func (c *Console) mayChangeSites(ctx context.Context) bool {
	tok, err := c.api.WhoAmI(ctx, &pb.WhoAmIRequest{})
	return err == nil && tok.GetRole() == pb.Role_ROLE_ADMIN
}
