package console

import (
	"net/http"
	"net/url"
	"slices"
	"sort"

	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The site delete confirmation page is parsed with the layout like every
// other page.
func init() {
	for name, t := range parsePages("site-delete") {
		pages[name] = t
	}
}

// siteDeleteData is the confirmation page of a site's deletion.
type siteDeleteData struct {
	Host, Path, Origin string
	// CAs are the names of the client CAs assigned to the site: they stay
	// in the account.
	CAs []string
	// Inline says the server certificate and key were uploaded (they go
	// with the site).
	Inline     bool
	CanDelete  bool
	DeleteCSRF string
}

// siteDeleteConfirm asks, without script, whether to delete the site,
// saying what deleting does.
func (c *Console) siteDeleteConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	c.siteDeletePage(w, r, s, http.StatusOK, "")
}

// siteDeletePage renders the confirmation of r's site, with the API's
// refusal of a delete as the page error.
func (c *Console) siteDeletePage(w http.ResponseWriter, r *http.Request, s *session, code int, pageErr string) {
	host := r.PathValue("host")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	site, err := c.api.GetSite(ctx, &pb.GetSiteRequest{Hostname: host})
	if c.apiFailed(w, r, err) {
		return
	}
	v := signedInView(s, "Delete site "+host, "sites")
	if err != nil {
		v.Error, v.Data = status.Convert(err).Message(), siteDeleteData{}
		if pageErr == "" {
			code = httpCode(err)
		} else {
			v.Error = pageErr
		}
		c.render(w, code, "site-delete", v)
		return
	}
	d := siteDeleteData{Host: host, Path: sitePath(host), Origin: site.GetOriginUrl(),
		Inline: site.GetServerCertificate().GetInline() != nil, CanDelete: c.mayChangeSites(ctx),
		DeleteCSRF: csrfToken(s, prefix+"sites/"+host+"/delete")}
	if cas, err := c.api.ListClientCAs(ctx, &pb.ListClientCAsRequest{}); err == nil {
		for _, ca := range cas.GetCas() {
			if slices.Contains(site.GetCaIds(), ca.GetId()) {
				d.CAs = append(d.CAs, ca.GetName())
			}
		}
	}
	sort.Strings(d.CAs)
	v.Error, v.Data = pageErr, d
	c.render(w, code, "site-delete", v)
}

// siteDelete deletes the site with DeleteSite and goes to the sites list,
// which says so; a refusal is shown on the confirmation page.
func (c *Console) siteDelete(w http.ResponseWriter, r *http.Request, s *session) {
	host := r.PathValue("host")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	_, err := c.api.DeleteSite(ctx, &pb.DeleteSiteRequest{Hostname: host})
	switch {
	case err == nil:
		http.Redirect(w, r, prefix+"sites?deleted="+url.QueryEscape(host), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	default:
		c.siteDeletePage(w, r, s, httpCode(err), status.Convert(err).Message())
	}
}

// deletedNotice is the sites list's notice of ?deleted=host: only while
// the list does not show host (a link cannot claim a listed site gone).
func deletedNotice(host string, rows []siteRow) string {
	if host == "" || slices.ContainsFunc(rows, func(r siteRow) bool { return r.Hostname == host }) {
		return ""
	}
	return "Site " + host + " is deleted."
}
