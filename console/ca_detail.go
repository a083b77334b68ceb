package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"

	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The client CA's own page and its delete confirmation are parsed with
// the layout like every other page.
func init() {
	for name, t := range parsePages("ca", "ca-delete") {
		pages[name] = t
	}
}

// caRoutes adds the routes of a client CA's own page.
func (c *Console) caRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /ui/cas/{id}", c.signedIn(c.caShow))
	m.HandleFunc("POST /ui/cas/{id}/edit", c.signedIn(c.caEdit))
	m.HandleFunc("POST /ui/cas/{id}/assign", c.signedIn(c.caAssign))
	m.HandleFunc("POST /ui/cas/{id}/unassign", c.signedIn(c.caUnassign))
	m.HandleFunc("GET /ui/cas/{id}/delete", c.signedIn(c.caDeleteConfirm))
	m.HandleFunc("POST /ui/cas/{id}/delete", c.signedIn(c.caDelete))
}

// caPath is the path of a client CA's page.
func caPath(id string) string { return prefix + "cas/" + url.PathEscape(id) }

// caRights are the CA page's controls the session's token may use, as
// docs/api.md's permission table gives them: admins and ca-managers
// change the CA and assign it anywhere, a site-manager assigns it to its
// own sites. They only decide what is offered: the API checks every call.
type caRights struct {
	edit bool
	// sites may the token assign the CA to and unassign it from; all
	// says any site.
	all   bool
	sites []string
}

// assigns reports whether r may assign the CA to host or unassign it.
func (r caRights) assigns(host string) bool { return r.all || slices.Contains(r.sites, host) }

// caRightsOf asks the API who the session's token is (WhoAmI); nothing is
// offered when that fails.
func (c *Console) caRightsOf(ctx context.Context) caRights {
	tok, err := c.api.WhoAmI(ctx, &pb.WhoAmIRequest{})
	if err != nil {
		return caRights{}
	}
	switch tok.GetRole() {
	case pb.Role_ROLE_ADMIN, pb.Role_ROLE_CA_MANAGER:
		return caRights{edit: true, all: true}
	case pb.Role_ROLE_SITE_MANAGER:
		return caRights{sites: tok.GetSites()}
	}
	return caRights{}
}

// caSiteRow is one site the CA is assigned to.
type caSiteRow struct {
	Host, Path  string
	CanUnassign bool
}

// caDetailData is the CA page's data.
type caDetailData struct {
	ID, Name, Path, UploadedBy, Uploaded string
	CRLURLs                              []string
	OCSPURL                              string
	OCSPNonce                            bool
	Certs                                []caCertRow
	// CRLsErr and SourcesErr are the API's refusal of ListCRLs and
	// ListCRLSources.
	CRLsErr, SourcesErr string
	Sources             []crlSourceRow
	Sites               []caSiteRow
	// Assignable are the visible sites the CA is not assigned to that the
	// token may assign it to.
	Assignable                         []option
	CanAssign, CanEdit                 bool
	AssignCSRF, UnassignCSRF, EditCSRF string
	AssignError, Notice                string
	Edit                               caEditForm
}

// caState is what a POST hands back to the CA page.
type caState struct {
	// edit is the edit form as posted, when it is shown again.
	edit                         *caEditForm
	notice, assignErr, pageError string
}

func (c *Console) caShow(w http.ResponseWriter, r *http.Request, s *session) {
	c.caDetailPage(w, r, s, http.StatusOK, caState{notice: caSavedNotice(r.URL.Query().Get("saved"))})
}

// caDetailPage renders the page of r's CA with st.
func (c *Console) caDetailPage(w http.ResponseWriter, r *http.Request, s *session, code int, st caState) {
	id := r.PathValue("id")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	ca, err := c.api.GetClientCA(ctx, &pb.GetClientCARequest{Id: id})
	if c.apiFailed(w, r, err) {
		return
	}
	v := signedInView(s, "Client CA", "cas")
	if err != nil {
		v.Error, v.Data = status.Convert(err).Message(), caDetailData{}
		c.render(w, httpCode(err), "ca", v)
		return
	}
	v.Title = "Client CA " + ca.GetName()
	d := c.caFacts(ctx, ca)
	rt := c.caRightsOf(ctx)
	c.caAssignments(ctx, &d, ca, rt)
	d.CanEdit, d.Notice, d.AssignError = rt.edit, st.notice, st.assignErr
	d.AssignCSRF, d.UnassignCSRF = csrfToken(s, prefix+"cas/"+id+"/assign"), csrfToken(s, prefix+"cas/"+id+"/unassign")
	d.EditCSRF = csrfToken(s, prefix+"cas/"+id+"/edit")
	d.Edit = caEditFormOf(ca)
	if st.edit != nil {
		d.Edit = *st.edit
	}
	v.Error, v.Data = st.pageError, d
	c.render(w, code, "ca", v)
}

// caFacts are the CA's facts, certificates, their CRLs and the fetcher's
// sources of the CA.
func (c *Console) caFacts(ctx context.Context, ca *pb.ClientCA) caDetailData {
	d := caDetailData{ID: ca.GetId(), Name: ca.GetName(), Path: caPath(ca.GetId()), UploadedBy: ca.GetUploadedBy(),
		Uploaded: stamp(ca.GetUploadedAt()), CRLURLs: ca.GetCrlUrls(), OCSPURL: ca.GetOcspUrl(), OCSPNonce: ca.GetOcspNonce()}
	crls, err := c.api.ListCRLs(ctx, &pb.ListCRLsRequest{})
	if err != nil {
		d.CRLsErr = status.Convert(err).Message()
	}
	now := c.now()
	d.Certs = certRowsOf(ca, crls.GetCrls(), now)
	src, err := c.api.ListCRLSources(ctx, &pb.ListCRLSourcesRequest{})
	if err != nil {
		d.SourcesErr = status.Convert(err).Message()
	}
	d.Sources = sourcesOfCA(src.GetSources(), ca.GetId(), crlIDsOf(d.Certs))
	return d
}

// caAssignments fills d's sites (those ca is assigned to, as the API lets
// the token see them) and the sites it may be assigned to.
func (c *Console) caAssignments(ctx context.Context, d *caDetailData, ca *pb.ClientCA, rt caRights) {
	for _, host := range ca.GetSites() {
		d.Sites = append(d.Sites, caSiteRow{Host: host, Path: sitePath(host), CanUnassign: rt.assigns(host)})
	}
	sort.Slice(d.Sites, func(i, j int) bool { return d.Sites[i].Host < d.Sites[j].Host })
	if !rt.all && len(rt.sites) == 0 {
		return
	}
	sites, err := c.api.ListSites(ctx, &pb.ListSitesRequest{})
	if err != nil {
		d.AssignError = "The sites could not be listed: " + status.Convert(err).Message()
	}
	for _, site := range sites.GetSites() {
		host := site.GetHostname()
		if !slices.Contains(ca.GetSites(), host) && rt.assigns(host) {
			d.Assignable = append(d.Assignable, option{Value: host, Label: host})
		}
	}
	sort.Slice(d.Assignable, func(i, j int) bool { return d.Assignable[i].Label < d.Assignable[j].Label })
	d.CanAssign = len(d.Assignable) > 0
}
