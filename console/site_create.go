package console

import (
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// createForm is the create-site form's state: what was typed (files
// cannot be kept) and the messages next to its fields, by field.
type createForm struct {
	Hostname, Origin, Fleets, Source, ChainPath, KeyPath string
	Errors                                               map[string]string
}

// sitesData is the sites list page's data.
type sitesData struct {
	Rows       []siteRow
	CanCreate  bool
	CreateCSRF string
	Form       createForm
	// F are the form's text and file fields by name.
	F map[string]fieldView
	// Notice says a site was deleted (site_delete.go).
	Notice string
}

// createLabels are the labels of the create form's fields.
var createLabels = map[string]string{
	"hostname":   "Hostname (app.example.com, or *.example.com)",
	"origin_url": "Origin URL (http:// or https://, host and port)",
	"fleets":     "Fleets (comma-separated; empty: every fleet)",
	"cert":       "Certificate chain (PEM, leaf first)",
	"key":        "Private key (PEM)",
	"chain_path": "Certificate chain path",
	"key_path":   "Private key path",
}

// fields are f's controls as the template renders them.
func (f createForm) fields() map[string]fieldView {
	vals := map[string]string{"hostname": f.Hostname, "origin_url": f.Origin, "fleets": f.Fleets,
		"chain_path": f.ChainPath, "key_path": f.KeyPath}
	out := map[string]fieldView{}
	for name, label := range createLabels {
		out[name] = fieldView{Name: name, ID: "new-" + strings.ReplaceAll(name, "_", "-"), Label: label,
			Value: vals[name], Error: f.Errors[name]}
	}
	return out
}

func (c *Console) siteList(w http.ResponseWriter, r *http.Request, s *session) {
	c.sitesPage(w, r, s, http.StatusOK, createForm{Source: "upload"}, "")
}

// sitesPage renders the sites list, with the create form for admins.
func (c *Console) sitesPage(w http.ResponseWriter, r *http.Request, s *session, code int, f createForm, pageErr string) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.ListSites(ctx, &pb.ListSitesRequest{})
	if c.apiFailed(w, r, err) {
		return
	}
	v := signedInView(s, "Sites", "sites")
	if err != nil {
		v.Error, code = status.Convert(err).Message(), http.StatusBadGateway
	}
	if pageErr != "" {
		v.Error = pageErr
	}
	d := sitesData{Form: f, F: f.fields(), CreateCSRF: csrfToken(s, prefix+"sites")}
	for _, site := range resp.GetSites() {
		d.Rows = append(d.Rows, siteRowOf(site))
	}
	sort.Slice(d.Rows, func(i, j int) bool { return d.Rows[i].Hostname < d.Rows[j].Hostname })
	d.Notice = deletedNotice(r.URL.Query().Get("deleted"), d.Rows)
	tok, err := c.api.WhoAmI(ctx, &pb.WhoAmIRequest{})
	d.CanCreate = err == nil && tok.GetRole() == pb.Role_ROLE_ADMIN
	v.Data = d
	c.render(w, code, "sites", v)
}

// siteCreate creates a site with CreateSite from the form: a server
// certificate and key uploaded, or the paths Envoy reads them from.
func (c *Console) siteCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := createForm{Hostname: strings.TrimSpace(r.PostFormValue("hostname")), Origin: strings.TrimSpace(r.PostFormValue("origin_url")),
		Fleets: r.PostFormValue("fleets"), Source: r.PostFormValue("source"),
		ChainPath: strings.TrimSpace(r.PostFormValue("chain_path")), KeyPath: strings.TrimSpace(r.PostFormValue("key_path")),
		Errors: map[string]string{}}
	site := &pb.Site{Hostname: f.Hostname, OriginUrl: f.Origin, Fleets: splitValues(f.Fleets)}
	if f.Source == "files" {
		site.ServerCertificate = &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
			CertificateChainPath: f.ChainPath, PrivateKeyPath: f.KeyPath}}}
	} else {
		f.Source = "upload"
		chain, cerr := uploaded(r, "cert", "choose the certificate chain file (PEM, leaf first)")
		key, kerr := uploaded(r, "key", "choose the private key file (PEM)")
		if cerr != nil || kerr != nil {
			setErr(f.Errors, "cert", cerr)
			setErr(f.Errors, "key", kerr)
			c.sitesPage(w, r, s, http.StatusUnprocessableEntity, f, "")
			return
		}
		site.ServerCertificate = &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(chain), PrivateKeyPem: string(key)}}}
	}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	_, err := c.api.CreateSite(ctx, &pb.CreateSiteRequest{Site: site})
	switch {
	case err == nil:
		http.Redirect(w, r, sitePath(f.Hostname), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	default:
		c.createRefused(w, r, s, f, err)
	}
}

// createRefused shows a refused creation: the API's message next to the
// field it names, or at the top.
func (c *Console) createRefused(w http.ResponseWriter, r *http.Request, s *session, f createForm, err error) {
	msg := status.Convert(err).Message()
	field := ""
	switch status.Code(err) {
	case codes.AlreadyExists:
		field = "hostname"
	case codes.InvalidArgument:
		field = createFieldOf(msg, f.Source)
	}
	if field == "" {
		c.sitesPage(w, r, s, httpCode(err), f, msg)
		return
	}
	f.Errors[field] = msg
	c.sitesPage(w, r, s, httpCode(err), f, "")
}

// createFieldOf is the create form's field an API message names
// ("origin_url: scheme must be ...", "server_certificate.inline: ...").
func createFieldOf(msg, source string) string {
	path, _, _ := strings.Cut(msg, ": ")
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	switch path {
	case "hostname", "origin_url", "fleets":
		return path
	case "server_certificate.inline":
		return "cert"
	case "server_certificate.files.certificate_chain_path":
		return "chain_path"
	case "server_certificate.files.private_key_path":
		return "key_path"
	case "server_certificate":
		if source == "files" {
			return "chain_path"
		}
		return "cert"
	}
	return ""
}

// uploaded reads the file of field; missing says what to choose.
func uploaded(r *http.Request, field, missing string) ([]byte, error) {
	f, _, err := r.FormFile(field)
	if err != nil {
		return nil, errors.New(missing)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, errors.New("the file could not be read")
	}
	return b, nil
}

func setErr(m map[string]string, field string, err error) {
	if err != nil {
		m[field] = err.Error()
	}
}
