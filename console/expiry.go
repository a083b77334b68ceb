package console

import (
	"net/http"
	"sort"
	"time"

	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// crlSoon is how near a CRL's nextUpdate the expiry page warns: CRLs are
// reissued often, so a day's notice is the useful one.
const crlSoon = 24 * time.Hour

// expiryRow is one date on the expiry page.
type expiryRow struct {
	// Kind is "Client CA certificate", "Server certificate" or "CRL".
	Kind, Name, Detail, Link string
	When                     time.Time
	// Warn is "expired" (a CRL: "stale"), "soon" or "".
	Warn string
}

// expiryData is the expiry page's data.
type expiryData struct {
	Rows []expiryRow
	// Errors are the lists the API did not give.
	Errors []string
}

// expiry lists what expires next: every certificate of every client CA,
// every inline server certificate and every CRL's next update, soonest
// first.
func (c *Console) expiry(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	now := c.now()
	var d expiryData
	cas, err := c.api.ListClientCAs(ctx, &pb.ListClientCAsRequest{})
	if c.apiFailed(w, r, err) {
		return
	}
	d.add(err, "client CAs")
	d.Rows = append(d.Rows, caExpiries(cas.GetCas(), now)...)
	sites, err := c.api.ListSites(ctx, &pb.ListSitesRequest{})
	d.add(err, "sites")
	d.Rows = append(d.Rows, siteExpiries(sites.GetSites(), now)...)
	crls, err := c.api.ListCRLs(ctx, &pb.ListCRLsRequest{})
	d.add(err, "CRLs")
	d.Rows = append(d.Rows, crlExpiries(crls.GetCrls(), now)...)
	sort.SliceStable(d.Rows, func(i, j int) bool { return d.Rows[i].When.Before(d.Rows[j].When) })
	v := signedInView(s, "What expires next", "expiry")
	v.Data = d
	c.render(w, http.StatusOK, "expiry", v)
}

// add records that the API refused a list.
func (d *expiryData) add(err error, what string) {
	if err != nil {
		d.Errors = append(d.Errors, what+": "+status.Convert(err).Message())
	}
}

func caExpiries(cas []*pb.ClientCA, now time.Time) []expiryRow {
	var out []expiryRow
	for _, ca := range cas {
		for _, cert := range ca.GetCertificates() {
			t := cert.GetNotAfter().AsTime()
			out = append(out, expiryRow{Kind: "Client CA certificate", Name: ca.GetName(), Detail: cert.GetSubject(),
				Link: caPath(ca.GetId()), When: t, Warn: expiryOf(t, now, expirySoon)})
		}
	}
	return out
}

func siteExpiries(sites []*pb.Site, now time.Time) []expiryRow {
	var out []expiryRow
	for _, site := range sites {
		info := site.GetServerCertificate().GetInline().GetInfo()
		if info == nil {
			continue // none, or files only the proxy host reads
		}
		t := info.GetNotAfter().AsTime()
		out = append(out, expiryRow{Kind: "Server certificate", Name: site.GetHostname(), Detail: info.GetSubject(),
			Link: sitePath(site.GetHostname()), When: t, Warn: expiryOf(t, now, expirySoon)})
	}
	return out
}

func crlExpiries(crls []*pb.CRL, now time.Time) []expiryRow {
	var out []expiryRow
	for _, crl := range crls {
		if crl.GetNextUpdate() == nil {
			continue
		}
		t := crl.GetNextUpdate().AsTime()
		warn := expiryOf(t, now, crlSoon)
		if warn == "expired" {
			warn = "stale"
		}
		out = append(out, expiryRow{Kind: "CRL", Name: crl.GetIssuer(), Detail: "next update; number " + crl.GetNumber(),
			When: t, Warn: warn})
	}
	return out
}
