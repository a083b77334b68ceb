package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The identities pages (docs/console.md, "Identities"): the list with the
// create form and the account's identity mapping, one identity's page
// with its bound certificates (identity.go), and the confirmations of an
// unbind and a delete (identity_confirm.go). Admins and CA managers
// write; every role reads.
func init() {
	for name, t := range parseShared("identities", "identity") {
		pages[name] = t
	}
}

func (c *Console) identityRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /ui/identities", c.signedIn(c.identityList))
	m.HandleFunc("POST /ui/identities", c.signedIn(c.identityCreate))
	m.HandleFunc("POST /ui/account/mapping", c.signedIn(c.accountMapping))
	m.HandleFunc("GET /ui/identities/{name}", c.signedIn(c.identityShow))
	m.HandleFunc("POST /ui/identities/{name}/enabled", c.signedIn(c.identityEnable))
	m.HandleFunc("POST /ui/identities/{name}/bind", c.signedIn(c.identityBind))
	m.HandleFunc("GET /ui/identities/{name}/unbind/{fp}", c.signedIn(c.identityUnbindConfirm))
	m.HandleFunc("POST /ui/identities/{name}/unbind/{fp}", c.signedIn(c.identityUnbind))
	m.HandleFunc("GET /ui/identities/{name}/delete", c.signedIn(c.identityDeleteConfirm))
	m.HandleFunc("POST /ui/identities/{name}/delete", c.signedIn(c.identityDelete))
}

// roleOf asks WhoAmI for the session's role (the API decides either way;
// the role only decides which forms a page offers).
func (c *Console) roleOf(r *http.Request, s *session) (pb.Role, navFlags) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	me, err := c.api.WhoAmI(ctx, &pb.WhoAmIRequest{})
	if err != nil {
		return pb.Role_ROLE_UNSPECIFIED, navFlags{Auditor: s.CanWriteCAs}
	}
	role := me.GetRole()
	return role, navFlags{Admin: role == pb.Role_ROLE_ADMIN, Auditor: s.CanWriteCAs, Me: me.GetId()}
}

// caWriter: the role may write identities and issue certificates.
func caWriter(role pb.Role) bool {
	return role == pb.Role_ROLE_ADMIN || role == pb.Role_ROLE_CA_MANAGER
}

// identityPath is an identity's page.
func identityPath(name string) string { return prefix + "identities/" + url.PathEscape(name) }

// idnRow is one identity of the list.
type idnRow struct {
	Name, Path, Comment string
	Enabled             bool
	Certs               int
	PinnedOn            string
}

// idnListData is the identities page's data.
type idnListData struct {
	navFlags
	Rows   []idnRow
	Notice string
	// CanWrite: the create form is offered; its state after a refusal.
	CanWrite      bool
	CreateCSRF    string
	Name, Comment string
	Disabled      bool
	Errs          formErrs
	Mapping       mappingView
	// pageErr is a refusal naming no field, shown at the top.
	pageErr string
}

// Field is a text field of the create form.
func (d idnListData) Field(name, label string) textField {
	v := map[string]string{"name": d.Name, "comment": d.Comment}
	return d.Errs.field(name, "identity-"+name, label, v[name])
}

func (c *Console) identityList(w http.ResponseWriter, r *http.Request, s *session) {
	c.identityListPage(w, r, s, http.StatusOK, idnListData{}, mappingView{})
}

// allIdentities reads every page of ListIdentities (a page holds at most
// 1000).
func allIdentities(ctx context.Context, api pb.CertificateManagerServiceClient) (*pb.ListIdentitiesResponse, error) {
	all := &pb.ListIdentitiesResponse{}
	for after := ""; ; {
		page, err := api.ListIdentities(ctx, &pb.ListIdentitiesRequest{After: after})
		if err != nil {
			return all, err
		}
		all.Identities = append(all.Identities, page.GetIdentities()...)
		if after = page.GetNextAfter(); after == "" {
			return all, nil
		}
	}
}

// identityListPage renders the list with the create form's state d and
// the mapping form's state m ("" Source: the stored mapping).
func (c *Console) identityListPage(w http.ResponseWriter, r *http.Request, s *session, code int, d idnListData, m mappingView) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := allIdentities(ctx, c.api)
	if c.apiFailed(w, r, err) {
		return
	}
	v := signedInView(s, "Identities", "identities")
	if err != nil {
		v.Error, code = apiMessage(err), statusOf(err)
	}
	if d.pageErr != "" {
		v.Error = d.pageErr
	}
	for _, id := range resp.GetIdentities() {
		d.Rows = append(d.Rows, idnRow{Name: id.GetName(), Path: identityPath(id.GetName()), Comment: id.GetComment(),
			Enabled: id.GetEnabled(), Certs: len(id.GetCertificates()), PinnedOn: strings.Join(id.GetPinnedOn(), ", ")})
	}
	role, nav := c.roleOf(r, s)
	d.navFlags, d.CanWrite = nav, caWriter(role)
	d.CreateCSRF = csrfToken(s, prefix+"identities")
	if r.Method == http.MethodGet {
		d.Notice = identityListNotice(r, d.Rows)
	}
	d.Mapping = c.accountMappingView(r, s, role == pb.Role_ROLE_ADMIN, m)
	v.Data = d
	c.render(w, code, "identities", v)
}

// identityListNotice is the notice of ?deleted= (when the list bears it
// out) or ?mapping=saved.
func identityListNotice(r *http.Request, rows []idnRow) string {
	q := r.URL.Query()
	if name := q.Get("deleted"); name != "" &&
		!slices.ContainsFunc(rows, func(row idnRow) bool { return row.Name == name }) {
		return "Identity " + name + " is deleted."
	}
	if q.Get("mapping") == "saved" {
		return "The account's identity mapping is saved."
	}
	return ""
}

// identityCreate creates an identity with CreateIdentity; a refusal is
// shown next to its field, with what was typed kept.
func (c *Console) identityCreate(w http.ResponseWriter, r *http.Request, s *session) {
	d := idnListData{Name: strings.TrimSpace(r.PostFormValue("name")), Comment: r.PostFormValue("comment"),
		Disabled: r.PostFormValue("enabled") != "true"}
	enabled := !d.Disabled
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	_, err := c.api.CreateIdentity(ctx, &pb.CreateIdentityRequest{Identity: &pb.Identity{Name: d.Name, Comment: d.Comment, Enabled: &enabled}})
	switch {
	case err == nil:
		http.Redirect(w, r, identityPath(d.Name)+"?created=1", http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	default:
		field, msg := refusalField(err, map[string]string{"name": "name", "comment": "comment"}, "name")
		if field == "" {
			d.pageErr = msg
		} else {
			d.Errs = formErrs{field: msg}
		}
		c.identityListPage(w, r, s, statusOf(err), d, mappingView{})
	}
}
