package console

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The denylist pages: the list with its filter and add form, and the
// confirmation of a removal (docs/console.md).
func init() {
	for name, t := range parsePages("deny", "deny-remove") {
		pages[name] = t
	}
}

func (c *Console) denyRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /ui/deny", c.signedIn(c.denyList))
	m.HandleFunc("POST /ui/deny", c.signedIn(c.denyAdd))
	m.HandleFunc("GET /ui/deny/{id}/remove", c.signedIn(c.denyRemoveConfirm))
	m.HandleFunc("POST /ui/deny/{id}/remove", c.signedIn(c.denyRemove))
}

// denyRow is one entry of the denylist.
type denyRow struct {
	ID, Fingerprint, Issuer, Serial, Site, Comment string
	Expires, Created, CreatedBy                    string
	// Expired: past its expiry, not yet pruned.
	Expired bool
	// RemoveURL is its confirmation page ("" when the role may not remove).
	RemoveURL string
}

// denyData is the denylist page's data.
type denyData struct {
	navFlags
	Entries []denyRow
	// Filter is the site the list is filtered by ("" for all).
	Filter string
	// Sites are the account's sites (for the filter).
	Sites []string
	// CanAdd: the role may add entries; Targets are the sites it may name
	// (AnySite: "every site" too).
	CanAdd  bool
	AnySite bool
	Targets []string
	AddCSRF string
	Form    denyForm
	Notice  string
}

// denyScope is what the session may change: every site (admin,
// ca-manager) or its own (site-manager).
type denyScope struct {
	nav   navFlags
	any   bool
	sites []string
}

func (sc denyScope) may(site string) bool {
	return sc.any || site != "" && slices.Contains(sc.sites, site)
}

// denyScopeOf asks WhoAmI what the session's token may change.
func (c *Console) denyScopeOf(r *http.Request, s *session) denyScope {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	me, err := c.api.WhoAmI(ctx, &pb.WhoAmIRequest{})
	role := me.GetRole()
	sc := denyScope{nav: navFlags{Admin: err == nil && role == pb.Role_ROLE_ADMIN, Auditor: s.CanWriteCAs, Me: me.GetId()}}
	switch {
	case err != nil:
	case role == pb.Role_ROLE_ADMIN || role == pb.Role_ROLE_CA_MANAGER:
		sc.any = true
	case role == pb.Role_ROLE_SITE_MANAGER:
		sc.sites = me.GetSites()
	}
	return sc
}

func (c *Console) denyList(w http.ResponseWriter, r *http.Request, s *session) {
	d := denyData{Filter: r.URL.Query().Get("site")}
	if id := r.URL.Query().Get("added"); id != "" {
		d.Notice = "Entry " + id + " is added."
	}
	if id := r.URL.Query().Get("removed"); id != "" {
		d.Notice = "Entry " + id + " is removed."
	}
	c.denyPage(w, r, s, http.StatusOK, d, "")
}

// denyPage renders the denylist with the add form's state d.
func (c *Console) denyPage(w http.ResponseWriter, r *http.Request, s *session, code int, d denyData, pageErr string) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	v := signedInView(s, "Denylist", "deny")
	resp, err := c.api.ListDenyEntries(ctx, &pb.ListDenyEntriesRequest{Site: d.Filter})
	if c.apiFailed(w, r, err) {
		return
	}
	if err != nil {
		v.Error, code = status.Convert(err).Message(), statusOf(err)
	}
	if pageErr != "" {
		v.Error = pageErr
	}
	sc := c.denyScopeOf(r, s)
	d.navFlags = sc.nav
	now := c.now()
	for _, e := range resp.GetEntries() {
		d.Entries = append(d.Entries, denyRowOf(e, now, sc.may(e.GetSite())))
	}
	sites, err := c.api.ListSites(ctx, &pb.ListSitesRequest{})
	if err == nil {
		for _, site := range sites.GetSites() {
			d.Sites = append(d.Sites, site.GetHostname())
		}
	}
	d.AnySite = sc.any
	d.Targets = d.Sites
	if !sc.any {
		d.Targets = sc.sites
	}
	d.CanAdd = sc.any || len(sc.sites) > 0
	if d.CanAdd {
		d.Form.Issuers = c.denyIssuers(r, s)
	}
	d.AddCSRF = csrfToken(s, prefix+"deny")
	v.Data = d
	c.render(w, code, "deny", v)
}

func denyRowOf(e *pb.DenyEntry, now time.Time, mayRemove bool) denyRow {
	row := denyRow{ID: e.GetId(), Fingerprint: e.GetSha256Fingerprint(), Issuer: e.GetIssuer(), Serial: e.GetSerial(),
		Site: e.GetSite(), Comment: e.GetComment(), Expires: stamp(e.GetExpiresAt()), Created: stamp(e.GetCreatedAt()),
		CreatedBy: e.GetCreatedBy()}
	if x := e.GetExpiresAt(); x != nil && !x.AsTime().After(now) {
		row.Expired = true
	}
	if mayRemove {
		row.RemoveURL = prefix + "deny/" + url.PathEscape(e.GetId()) + "/remove"
	}
	return row
}

// denyIssuers are the subjects of the uploaded client CA certificates,
// sorted, each once: the issuers an entry may name as text.
func (c *Console) denyIssuers(r *http.Request, s *session) []string {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.ListClientCAs(ctx, &pb.ListClientCAsRequest{})
	if err != nil {
		return nil
	}
	var out []string
	for _, ca := range resp.GetCas() {
		for _, cert := range ca.GetCertificates() {
			if subj := cert.GetSubject(); subj != "" && !slices.Contains(out, subj) {
				out = append(out, subj)
			}
		}
	}
	slices.Sort(out)
	return out
}
