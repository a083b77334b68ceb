package console

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The issuing page (docs/console.md, "Issuing"): the account's issuing CA
// (created here by an admin), the issue form, the issued certificates
// with renew and revoke, and the answer page of an issue or a renewal
// (issuing_issue.go), which shows a new key once and keeps it nowhere.
func init() {
	for name, t := range parseShared("issuing", "issued") {
		pages[name] = t
	}
}

func (c *Console) issuingRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /ui/issuing", c.signedIn(c.issuingShow))
	m.HandleFunc("POST /ui/issuing/ca", c.signedIn(c.issuingCreateCA))
	m.HandleFunc("POST /ui/issuing/issue", c.signedIn(c.issuingIssue))
	m.HandleFunc("POST /ui/issuing/{serial}/renew", c.signedIn(c.issuingRenew))
	m.HandleFunc("GET /ui/issuing/{serial}/revoke", c.signedIn(c.issuingRevokeConfirm))
	m.HandleFunc("POST /ui/issuing/{serial}/revoke", c.signedIn(c.issuingRevoke))
}

// issuedRow is one issued certificate of the list.
type issuedRow struct {
	Serial, Identity, IdentityPath, Expires, Issued, Revoked, Renews string
	Expiry                                                           string
	// RenewCSRF and RevokeURL are set when the role may renew and revoke.
	RenewCSRF, RevokeURL string
}

// issuingData is the issuing page's data.
type issuingData struct {
	navFlags
	// HasCA: the account has an issuing CA; Facts are its facts.
	HasCA     bool
	Facts     []fact
	ClientCA  string
	Admin     bool
	CanIssue  bool
	Notice    string
	CACSRF    string
	IssueCSRF string
	// CAForm and Issue are the forms as posted, with their errors.
	CAForm issuingCAForm
	Issue  issueForm
	// Identities are offered by the issue form.
	Identities []option
	Rows       []issuedRow
	ListError  string
	pageErr    string
}

// issuingCAForm is the create form.
type issuingCAForm struct {
	CommonName, Days string
	Errs             formErrs
}

// Fields are the create form's fields.
func (f issuingCAForm) Fields() []textField {
	cn := f.Errs.field("common_name", "ca-common-name", "Common name (empty: mtlsgate client CA)", f.CommonName)
	days := f.Errs.field("days", "ca-days", "Lifetime in days (empty: 3650)", f.Days)
	return []textField{cn, days}
}

// issueForm is the issue form.
type issueForm struct {
	Identity, Days string
	Errs           formErrs
}

// DaysField and PasswordField are the issue form's text fields.
func (f issueForm) DaysField() textField {
	return f.Errs.field("days", "issue-days", "Lifetime in days (empty: 90)", f.Days)
}

// PasswordField is the PKCS#12 password (never kept in the form).
func (f issueForm) PasswordField() textField {
	p := f.Errs.field("password", "issue-password", "PKCS#12 password (without a CSR; empty: one is picked and shown once)", "")
	p.Type = "password"
	return p
}

func (c *Console) issuingShow(w http.ResponseWriter, r *http.Request, s *session) {
	c.issuingPage(w, r, s, http.StatusOK, issuingData{})
}

// issuingPage renders the issuing page with the forms' state d.
func (c *Console) issuingPage(w http.ResponseWriter, r *http.Request, s *session, code int, d issuingData) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	ica, err := c.api.GetIssuingCA(ctx, &pb.GetIssuingCARequest{})
	if c.apiFailed(w, r, err) {
		return
	}
	v := signedInView(s, "Issuing", "issuing")
	role, nav := c.roleOf(r, s)
	d.navFlags, d.Admin, d.CanIssue = nav, role == pb.Role_ROLE_ADMIN, caWriter(role)
	switch {
	case err == nil:
		d.HasCA, d.Facts, d.ClientCA = true, issuingFacts(ica), ica.GetClientCaId()
	case status.Code(err) != codes.NotFound:
		v.Error, code = apiMessage(err), statusOf(err)
	}
	if d.HasCA {
		d.Rows, d.ListError = c.issuedRows(r, s, d.CanIssue)
		if d.CanIssue {
			d.Identities = c.identityOptions(r, s, d.Issue.Identity)
		}
	}
	if r.Method == http.MethodGet {
		d.Notice = issuingNotice(r, d)
	}
	if d.pageErr != "" {
		v.Error = d.pageErr
	}
	d.CACSRF, d.IssueCSRF = csrfToken(s, prefix+"issuing/ca"), csrfToken(s, prefix+"issuing/issue")
	v.Data = d
	c.render(w, code, "issuing", v)
}

// issuingFacts are the issuing CA's facts, read from its certificate.
func issuingFacts(ica *pb.IssuingCA) []fact {
	subject, expires := "(unreadable)", ""
	if b, _ := pem.Decode([]byte(ica.GetCertificatePem())); b != nil {
		if cert, err := x509.ParseCertificate(b.Bytes); err == nil {
			subject, expires = cert.Subject.String(), cert.NotAfter.UTC().Format("2006-01-02 15:04 UTC")
		}
	}
	created := stamp(ica.GetCreatedAt())
	if ica.GetCreatedBy() != "" {
		created += " by token " + ica.GetCreatedBy()
	}
	return []fact{{Label: "Subject", Value: subject}, {Label: "Expires", Value: expires},
		{Label: "CRL URL", Value: or(ica.GetCrlUrl(), "—"), Code: true}, {Label: "CRL number", Value: strconv.FormatInt(ica.GetCrlNumber(), 10)},
		{Label: "Created", Value: created}}
}

// issuingNotice is the notice of ?created= or ?revoked= (when the list
// bears it out).
func issuingNotice(r *http.Request, d issuingData) string {
	q := r.URL.Query()
	if q.Get("created") != "" && d.HasCA {
		return "The issuing CA is created."
	}
	if serial := q.Get("revoked"); serial != "" {
		for _, row := range d.Rows {
			if row.Serial == serial && row.Revoked != "" {
				return "Certificate " + serial + " is revoked."
			}
		}
	}
	return ""
}

// issuedRows lists the issued certificates, newest serial first as the
// API sorts them; mayWrite adds the renew and revoke controls.
func (c *Console) issuedRows(r *http.Request, s *session, mayWrite bool) ([]issuedRow, string) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.ListIssuedCertificates(ctx, &pb.ListIssuedCertificatesRequest{})
	if err != nil {
		return nil, apiMessage(err)
	}
	now := c.now()
	var rows []issuedRow
	for _, ic := range resp.GetCertificates() {
		row := issuedRow{Serial: ic.GetSerial(), Identity: ic.GetIdentity(), IdentityPath: identityPath(ic.GetIdentity()),
			Expires: stamp(ic.GetNotAfter()), Issued: stamp(ic.GetIssuedAt()), Renews: ic.GetRenews()}
		if ic.GetRevokedAt() != nil {
			row.Revoked = stamp(ic.GetRevokedAt()) + " by token " + ic.GetRevokedBy()
		}
		if x := ic.GetNotAfter(); x != nil && !x.AsTime().After(now) {
			row.Expiry = "expired"
		}
		if mayWrite && row.Revoked == "" {
			base := prefix + "issuing/" + url.PathEscape(row.Serial)
			row.RenewCSRF, row.RevokeURL = csrfToken(s, base+"/renew"), base+"/revoke"
		}
		rows = append(rows, row)
	}
	return rows, ""
}

// identityOptions are the enabled identities, the one chosen selected.
func (c *Console) identityOptions(r *http.Request, s *session, chosen string) []option {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := allIdentities(ctx, c.api)
	if err != nil {
		return nil
	}
	var out []option
	for _, id := range resp.GetIdentities() {
		if id.GetEnabled() {
			out = append(out, option{Value: id.GetName(), Label: id.GetName(), Selected: id.GetName() == chosen})
		}
	}
	return out
}

// issuingCreateCA creates the account's issuing CA (CreateIssuingCA).
func (c *Console) issuingCreateCA(w http.ResponseWriter, r *http.Request, s *session) {
	f := issuingCAForm{CommonName: strings.TrimSpace(r.PostFormValue("common_name")), Days: strings.TrimSpace(r.PostFormValue("days")), Errs: formErrs{}}
	days, err := formDays(f.Days)
	if err != nil {
		f.Errs["days"] = err.Error()
		c.issuingPage(w, r, s, http.StatusUnprocessableEntity, issuingData{CAForm: f})
		return
	}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	_, err = c.api.CreateIssuingCA(ctx, &pb.CreateIssuingCARequest{CommonName: f.CommonName, Days: days})
	switch {
	case err == nil:
		http.Redirect(w, r, prefix+"issuing?created=1", http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	default:
		d := issuingData{CAForm: f}
		if field, msg := refusalField(err, map[string]string{"common_name": "common_name", "days": "days"}, ""); field != "" {
			f.Errs[field] = msg
		} else {
			d.pageErr = msg
		}
		c.issuingPage(w, r, s, statusOf(err), d)
	}
}

// formDays reads a lifetime in days ("" : 0, the API's default).
func formDays(v string) (int32, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0, errDays(v)
	}
	return int32(n), nil
}
