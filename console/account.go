package console

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The account pages (CRLs, tokens, audit log) are parsed with the layout
// like every other page.
func init() {
	for name, t := range parsePages("crls", "tokens", "token-created", "token-revoke", "audit") {
		pages[name] = t
	}
}

// navFlags are what the account pages learnt of the session's role, for
// the navigation: the Tokens entry is offered to admins only, the audit
// log to the roles that may read it. The API decides either way.
type navFlags struct {
	Admin, Auditor bool
	// Me is the id of the session's token ("" when unknown).
	Me string
}

func (f navFlags) navOf() navFlags { return f }

// navData is page data that carries navFlags.
type navData interface{ navOf() navFlags }

// ShowTokens says whether the layout offers the Tokens entry: on every
// page of an admin's session.
func (v view) ShowTokens() bool {
	d, ok := v.Data.(navData)
	return v.Role == pb.Role_ROLE_ADMIN || ok && d.navOf().Admin
}

// ShowAudit says whether the layout offers the audit log entry (admin and
// ca-manager, who may read it).
func (v view) ShowAudit() bool {
	d, ok := v.Data.(navData)
	return v.Role == pb.Role_ROLE_ADMIN || v.Role == pb.Role_ROLE_CA_MANAGER || ok && d.navOf().Auditor
}

// navFor learns the session's nav flags: its role from WhoAmI (any role
// may call it); whether it may read the audit log the session already
// knows (ListAuditEvents has the role set of CA uploads).
func (c *Console) navFor(r *http.Request, s *session) navFlags {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	me, err := c.api.WhoAmI(ctx, &pb.WhoAmIRequest{})
	return navFlags{Admin: err == nil && me.GetRole() == pb.Role_ROLE_ADMIN, Auditor: s.CanWriteCAs, Me: me.GetId()}
}

// stamp is a timestamp as the pages show it (UTC, to the minute); ""
// when unset.
func stamp(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format("2006-01-02 15:04 UTC")
}

// crlRow is one CRL in the list.
type crlRow struct {
	Issuer, Number, ThisUpdate, NextUpdate string
	Entries                                int64
	// Stale: its nextUpdate has passed.
	Stale bool
	// FetchedFrom is the URL the fetcher got it from; "" when uploaded
	// (by UploadedBy).
	FetchedFrom, UploadedBy string
}

// crlSourceRow is one CRL source the fetcher follows.
type crlSourceRow struct {
	URL, From, Result, Error, LastAttempt, LastSuccess, NextAttempt string
	Failures                                                        int32
}

// crlsData is the CRL page's data.
type crlsData struct {
	navFlags
	CRLs       []crlRow
	Sources    []crlSourceRow
	SourcesErr string
	CanUpload  bool
	UploadCSRF string
	// FileError is the API's refusal of an upload, next to the file field.
	FileError string
}

func (c *Console) crlList(w http.ResponseWriter, r *http.Request, s *session) {
	c.crlPage(w, r, s, http.StatusOK, crlsData{}, "")
}

// crlPage renders the CRL list, the sources and the upload form state d.
func (c *Console) crlPage(w http.ResponseWriter, r *http.Request, s *session, code int, d crlsData, pageErr string) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.ListCRLs(ctx, &pb.ListCRLsRequest{})
	if c.apiFailed(w, r, err) {
		return
	}
	v := signedInView(s, "Certificate revocation lists", "crls")
	if err != nil {
		v.Error, code = status.Convert(err).Message(), http.StatusBadGateway
	}
	if pageErr != "" {
		v.Error = pageErr
	}
	now := c.now()
	for _, crl := range resp.GetCrls() {
		d.CRLs = append(d.CRLs, crlRowOf(crl, now))
	}
	sort.SliceStable(d.CRLs, func(i, j int) bool { return d.CRLs[i].Issuer < d.CRLs[j].Issuer })
	src, err := c.api.ListCRLSources(ctx, &pb.ListCRLSourcesRequest{})
	if err != nil {
		d.SourcesErr = status.Convert(err).Message()
	}
	for _, st := range src.GetSources() {
		d.Sources = append(d.Sources, crlSourceRow{URL: st.GetUrl(), From: st.GetFrom(), Result: st.GetResult(),
			Error: st.GetError(), Failures: st.GetFailures(), LastAttempt: stamp(st.GetLastAttempt()),
			LastSuccess: stamp(st.GetLastSuccess()), NextAttempt: stamp(st.GetNextAttempt())})
	}
	d.navFlags = c.navFor(r, s)
	d.CanUpload = s.CanWriteCAs
	d.UploadCSRF = csrfToken(s, prefix+"crls")
	v.Data = d
	c.render(w, code, "crls", v)
}

func crlRowOf(crl *pb.CRL, now time.Time) crlRow {
	row := crlRow{Issuer: crl.GetIssuer(), Number: crl.GetNumber(), ThisUpdate: stamp(crl.GetThisUpdate()),
		NextUpdate: stamp(crl.GetNextUpdate()), Entries: crl.GetEntryCount(),
		FetchedFrom: crl.GetFetchedFrom(), UploadedBy: crl.GetUploadedBy()}
	if nu := crl.GetNextUpdate(); nu != nil && !nu.AsTime().After(now) {
		row.Stale = true
	}
	return row
}

// crlUpload uploads a CRL with CreateCRL; a refusal is shown next to the
// file field.
func (c *Console) crlUpload(w http.ResponseWriter, r *http.Request, s *session) {
	der, err := crlFile(r)
	if err != nil {
		c.crlPage(w, r, s, http.StatusUnprocessableEntity, crlsData{FileError: err.Error()}, "")
		return
	}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	_, err = c.api.CreateCRL(ctx, &pb.CreateCRLRequest{Crl: der})
	switch {
	case err == nil:
		http.Redirect(w, r, prefix+"crls", http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	case status.Code(err) == codes.PermissionDenied:
		c.crlPage(w, r, s, http.StatusForbidden, crlsData{}, status.Convert(err).Message())
	default:
		c.crlPage(w, r, s, http.StatusUnprocessableEntity, crlsData{FileError: status.Convert(err).Message()}, "")
	}
}

// crlFile reads the uploaded CRL.
func crlFile(r *http.Request) ([]byte, error) {
	f, _, err := r.FormFile("crl")
	if err != nil {
		return nil, errors.New("choose a CRL file (PEM or DER)")
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("the file could not be read: %w", err)
	}
	return b, nil
}
