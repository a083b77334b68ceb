package console

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// siteRow is one site in the list.
type siteRow struct {
	Hostname, Path, Mode, Fleets string
	CAs                          int
	// Health is "ok", "error" (the site is left out of Envoy's
	// configuration or its policy failed) or "nack" (an Envoy rejected
	// its configuration); Problem says what.
	Health, Problem string
	// Envoys sums up the fleets' connected nodes (envoysText).
	Envoys string
}

func siteRowOf(site *pb.Site) siteRow {
	st := site.GetStatus()
	row := siteRow{Hostname: site.GetHostname(), Path: sitePath(site.GetHostname()),
		Mode: modeName(site.GetSettings().GetMode()), Fleets: fleetsText(site.GetFleets()),
		CAs: len(site.GetCaIds()), Health: "ok", Envoys: envoysText(st.GetFleets())}
	switch {
	case st.GetXdsError() != "" || st.GetAuthzError() != "":
		row.Health, row.Problem = "error", strings.TrimSpace(st.GetXdsError()+" "+st.GetAuthzError())
	case st.GetLastNack() != "":
		row.Health, row.Problem = "nack", "rejected by "+st.GetLastNackNode()+": "+st.GetLastNack()
	}
	return row
}

// sitePath is the path of a site's page.
func sitePath(host string) string { return prefix + "sites/" + url.PathEscape(host) }

// fleetsText is a site's fleets, "every fleet" for none named.
func fleetsText(fleets []string) string {
	if len(fleets) == 0 {
		return "every fleet"
	}
	return strings.Join(fleets, ", ")
}

// certView is a site's server certificate.
type certView struct {
	// Source is "inline", "files" or "".
	Source                       string
	Subject, Issuer, Fingerprint string
	DNSNames                     string
	NotAfter                     time.Time
	Expiry                       string
	ChainPath, KeyPath           string
}

// assignedCA is one CA assigned to the site.
type assignedCA struct {
	ID, Name, Subject string
	NotAfter          time.Time
	Expiry            string
}

// siteData is the site page's data.
type siteData struct {
	Host, Path, Origin, Fleets, UpdatedBy string
	Created, Updated                      time.Time
	Cert                                  certView
	Status                                statusView
	CAs                                   []assignedCA
	Assignable                            []option
	CanAssign, CanEdit                    bool
	AssignCSRF, UnassignCSRF, SaveCSRF    string
	// Base is the settings form's hidden base (baseOf).
	Base                string
	AssignError, Notice string
	Groups              []groupView
	// Policy is the pins and access rules part (site_policy.go).
	Policy policyView
	Edit   siteEditView // site_edit.go
	// Refusals are the refusals part (refusals.go).
	Refusals refusalsView
}

// formState is the settings form as posted, when it is shown again.
type formState struct {
	vals, errs map[string]string
	// base is the form's hidden base, kept for the next save.
	base string
}

func (c *Console) siteShow(w http.ResponseWriter, r *http.Request, s *session) {
	c.sitePage(w, r, s, http.StatusOK, pageState{notice: savedNotice(r.URL.Query().Get("saved"))})
}

// pageState is what a POST hands back to the site page.
type pageState struct {
	form                         *formState
	notice, assignErr, pageError string
	policy                       *policyState
	refusal                      *refusalForm // refusals.go
}

// sitePage renders the site page of r's host with st.
func (c *Console) sitePage(w http.ResponseWriter, r *http.Request, s *session, code int, st pageState) {
	host := r.PathValue("host")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	site, err := c.api.GetSite(ctx, &pb.GetSiteRequest{Hostname: host})
	if c.apiFailed(w, r, err) {
		return
	}
	v := signedInView(s, host, "sites")
	if err != nil {
		v.Error = status.Convert(err).Message()
		c.render(w, httpCode(err), "message", v)
		return
	}
	cas, err := c.api.ListClientCAs(ctx, &pb.ListClientCAsRequest{})
	if err != nil {
		v.Error, code = status.Convert(err).Message(), http.StatusBadGateway
	}
	if st.pageError != "" {
		v.Error = st.pageError
	}
	rt := c.rights(ctx, host)
	d := siteDataOf(site, cas.GetCas(), c.now())
	d.CanAssign, d.CanEdit = rt.assign, rt.settings
	d.Policy.fill(r, s, rt.settings, st.policy)    // site_policy.go
	d.Edit = siteEditViewOf(r, s, site, rt.change) // site_edit.go
	d.Refusals = refusalsViewOf(r, s, site, rt.settings, st.refusal)
	d.Notice, d.AssignError = st.notice, st.assignErr
	d.AssignCSRF, d.UnassignCSRF = csrfToken(s, prefix+"sites/"+host+"/assign"), csrfToken(s, prefix+"sites/"+host+"/unassign")
	d.SaveCSRF = csrfToken(s, prefix+"sites/"+host+"/settings")
	vals, errs := settingValues(site.GetSettings()), map[string]string{}
	d.Base = baseOf(site.GetSettings())
	if st.form != nil {
		vals, errs = st.form.vals, st.form.errs
		if st.form.base != "" {
			d.Base = st.form.base
		}
	}
	d.Groups = formView(vals, errs)
	v.Data = d
	c.render(w, code, "site", v)
}

// httpCode is the page status for an API error.
func httpCode(err error) int {
	switch status.Code(err) {
	case codes.NotFound:
		return http.StatusNotFound
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.InvalidArgument:
		return http.StatusUnprocessableEntity
	}
	return http.StatusBadGateway
}

// siteDataOf is the page's facts of site; cas are the account's CAs.
func siteDataOf(site *pb.Site, cas []*pb.ClientCA, now time.Time) siteData {
	d := siteData{Host: site.GetHostname(), Path: sitePath(site.GetHostname()), Origin: site.GetOriginUrl(),
		Fleets: fleetsText(site.GetFleets()), UpdatedBy: site.GetUpdatedBy(),
		Created: site.GetCreatedAt().AsTime(), Updated: site.GetUpdatedAt().AsTime(),
		Cert: certViewOf(site.GetServerCertificate(), now)}
	d.Status = statusViewOf(site.GetStatus()) // site_status.go
	for _, ca := range cas {
		if slices.Contains(site.GetCaIds(), ca.GetId()) {
			row := caRowOf(ca, now)
			d.CAs = append(d.CAs, assignedCA{ID: ca.GetId(), Name: row.Name, Subject: row.Subject,
				NotAfter: row.NotAfter, Expiry: row.Expiry})
		} else {
			d.Assignable = append(d.Assignable, option{Value: ca.GetId(), Label: ca.GetName()})
		}
	}
	sort.Slice(d.CAs, func(i, j int) bool { return d.CAs[i].Name < d.CAs[j].Name })
	sort.Slice(d.Assignable, func(i, j int) bool { return d.Assignable[i].Label < d.Assignable[j].Label })
	d.Policy = policyViewOf(site)
	return d
}

// certViewOf is a server certificate's facts.
func certViewOf(sc *pb.ServerCertificate, now time.Time) certView {
	if f := sc.GetFiles(); f != nil {
		return certView{Source: "files", ChainPath: f.GetCertificateChainPath(), KeyPath: f.GetPrivateKeyPath()}
	}
	if sc.GetInline() == nil {
		return certView{}
	}
	info := sc.GetInline().GetInfo()
	cv := certView{Source: "inline", Subject: info.GetSubject(), Issuer: info.GetIssuer(),
		Fingerprint: info.GetSha256Fingerprint(), DNSNames: strings.Join(info.GetDnsNames(), ", "),
		NotAfter: info.GetNotAfter().AsTime()}
	cv.Expiry = expiryOf(cv.NotAfter, now, expirySoon)
	return cv
}

// expiryOf is "expired", "soon" (within soon of now) or "".
func expiryOf(t, now time.Time, soon time.Duration) string {
	switch {
	case !t.After(now):
		return "expired"
	case t.Sub(now) < soon:
		return "soon"
	}
	return ""
}
