package console

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// maxCSRFile bounds an uploaded certificate request.
const maxCSRFile = 64 << 10

// errDays refuses a lifetime that is not a number of days.
func errDays(v string) error {
	return fmt.Errorf("must be a whole number of days (or empty for the default), got %q", v)
}

// issueFields maps the API's field names of an issue refusal to the form's.
var issueFields = map[string]string{"identity": "identity", "days": "days", "csr_pem": "csr", "pkcs12_password": "password"}

// download is one file of the answer page, as a data: URL: the files are
// sent in the page itself and kept nowhere on the server.
type download struct {
	Name, ID, Label string
	URL             template.URL
}

// issuedData is the answer page of an issue or a renewal.
type issuedData struct {
	navFlags
	Serial, Identity, Expires string
	CertPEM, Password         string
	// Files are the downloads: certificate and CA always; key and
	// PKCS#12 when the server made the key.
	Files []download
}

// dataURL is body as a data: URL of type ctype.
func dataURL(ctype string, body []byte) template.URL {
	// #nosec: a fixed media type and base64: nothing to escape.
	return template.URL("data:" + ctype + ";base64," + base64.StdEncoding.EncodeToString(body))
}

// issuedDataOf is the answer page's data for resp.
func issuedDataOf(resp *pb.IssueClientCertificateResponse, nav navFlags) issuedData {
	ic := resp.GetCertificate()
	name := ic.GetIdentity() + "-" + ic.GetSerial()
	d := issuedData{navFlags: nav, Serial: ic.GetSerial(), Identity: ic.GetIdentity(), Expires: stamp(ic.GetNotAfter()),
		CertPEM: resp.GetCertificatePem(), Password: resp.GetPkcs12Password()}
	d.Files = append(d.Files, download{Name: name + ".crt.pem", ID: "download-cert", Label: "Certificate (PEM)",
		URL: dataURL("application/x-pem-file", []byte(resp.GetCertificatePem()))},
		download{Name: "issuing-ca.pem", ID: "download-ca", Label: "Issuing CA certificate (PEM)",
			URL: dataURL("application/x-pem-file", []byte(resp.GetCaPem()))})
	if resp.GetPrivateKeyPem() != "" {
		d.Files = append(d.Files, download{Name: name + ".key.pem", ID: "download-key", Label: "Private key (PKCS#8 PEM)",
			URL: dataURL("application/x-pem-file", []byte(resp.GetPrivateKeyPem()))})
	}
	if len(resp.GetPkcs12()) > 0 {
		d.Files = append(d.Files, download{Name: name + ".p12", ID: "download-p12", Label: "PKCS#12 (key, certificate and CA)",
			URL: dataURL("application/x-pkcs12", resp.GetPkcs12())})
	}
	return d
}

// renderIssued answers an issue or a renewal with its files, shown once.
func (c *Console) renderIssued(w http.ResponseWriter, r *http.Request, s *session, resp *pb.IssueClientCertificateResponse) {
	_, nav := c.roleOf(r, s)
	v := signedInView(s, "Certificate "+resp.GetCertificate().GetSerial()+" issued", "issuing")
	v.Data = issuedDataOf(resp, nav)
	c.render(w, http.StatusOK, "issued", v)
}

// issuingIssue issues a certificate (IssueClientCertificate), for the
// uploaded CSR's key or for a new key; a refusal is shown next to its
// field.
func (c *Console) issuingIssue(w http.ResponseWriter, r *http.Request, s *session) {
	f := issueForm{Identity: r.PostFormValue("identity"), Days: strings.TrimSpace(r.PostFormValue("days")), Errs: formErrs{}}
	days, err := formDays(f.Days)
	if err != nil {
		f.Errs["days"] = err.Error()
	}
	csr, cerr := csrFile(r)
	if cerr != nil {
		f.Errs["csr"] = cerr.Error()
	}
	if len(f.Errs) > 0 {
		c.issuingPage(w, r, s, http.StatusUnprocessableEntity, issuingData{Issue: f})
		return
	}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{Identity: f.Identity, Days: days,
		CsrPem: csr, Pkcs12Password: r.PostFormValue("password")})
	switch {
	case err == nil:
		c.renderIssued(w, r, s, resp)
	case c.apiFailed(w, r, err):
	default:
		d := issuingData{Issue: f}
		field, msg := refusalField(err, issueFields, "identity")
		if code := status.Code(err); code == codes.NotFound || code == codes.FailedPrecondition {
			field = "identity" // an identity gone, disabled, or at its limit
		}
		if field == "" {
			d.pageErr = msg
		} else {
			f.Errs[field] = msg
		}
		c.issuingPage(w, r, s, statusOf(err), d)
	}
}

// csrFile is the uploaded certificate request ("" when none is chosen).
func csrFile(r *http.Request) (string, error) {
	f, _, err := r.FormFile("csr")
	if err != nil {
		return "", nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCSRFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("the file could not be read: %w", err)
	case len(b) > maxCSRFile:
		return "", fmt.Errorf("the file is larger than %d KiB: not a certificate request", maxCSRFile>>10)
	}
	return string(b), nil
}

// issuingRenew renews an issued certificate (RenewClientCertificate) for
// a new key, with a picked PKCS#12 password, and answers with its files.
func (c *Console) issuingRenew(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.RenewClientCertificate(ctx, &pb.RenewClientCertificateRequest{Serial: r.PathValue("serial")})
	switch {
	case err == nil:
		c.renderIssued(w, r, s, resp)
	case c.apiFailed(w, r, err):
	default:
		c.issuingPage(w, r, s, statusOf(err), issuingData{pageErr: apiMessage(err)})
	}
}

// issuingRevokeConfirm asks before revoking an issued certificate.
func (c *Console) issuingRevokeConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	serial := r.PathValue("serial")
	role, nav := c.roleOf(r, s)
	d := confirmData{navFlags: nav, Back: prefix + "issuing", BackLabel: "Back to issuing"}
	rows, listErr := c.issuedRows(r, s, caWriter(role))
	code, pageErr := http.StatusNotFound, "No issued certificate has the serial "+serial+"."
	for _, row := range rows {
		if row.Serial != serial {
			continue
		}
		code, pageErr = http.StatusOK, ""
		switch {
		case row.Revoked != "":
			code, pageErr = http.StatusUnprocessableEntity, "Certificate "+serial+" is already revoked ("+row.Revoked+")."
		case row.RevokeURL == "":
			code, pageErr = http.StatusForbidden, "Your role may not revoke certificates."
		}
		d.Action = row.RevokeURL
		d.Facts = []fact{{Label: "Serial", Value: serial, Code: true}, {Label: "Identity", Value: row.Identity},
			{Label: "Expires", Value: row.Expires}, {Label: "Issued", Value: row.Issued}}
	}
	if listErr != "" {
		code, pageErr = http.StatusForbidden, listErr
	}
	d.Question = "Revoke certificate " + serial + "? The issuing CA's CRL lists it from now on, and sites checking that CRL refuse it. This cannot be undone."
	d.Button, d.ButtonID = "Revoke", "confirm-revoke"
	c.confirmPage(w, s, "Revoke a certificate", "issuing", code, d, pageErr)
}

// issuingRevoke revokes the certificate (RevokeClientCertificate).
func (c *Console) issuingRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	serial := r.PathValue("serial")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	if _, err := c.api.RevokeClientCertificate(ctx, &pb.RevokeClientCertificateRequest{Serial: serial}); err != nil {
		c.actionRefused(w, r, s, "Revoke a certificate", "issuing", err, prefix+"issuing")
		return
	}
	http.Redirect(w, r, prefix+"issuing?revoked="+url.QueryEscape(serial), http.StatusSeeOther)
}
