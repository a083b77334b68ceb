package console

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// maxBindFile bounds a certificate file uploaded to bind (a PKCS#12 file
// holds a key and a chain as well; the API bounds it again).
const maxBindFile = 256 << 10

// idnCertRow is one certificate bound to an identity.
type idnCertRow struct {
	Fingerprint, Subject, Issuer, Expires, Bound string
	SelfSigned                                   bool
	// Expiry is "expired", "soon" or "".
	Expiry string
	// UnbindURL is its confirmation page ("" when the role may not).
	UnbindURL string
}

// idnData is an identity's page.
type idnData struct {
	navFlags
	Name, Path string
	Found      bool
	Enabled    bool
	Facts      []fact
	Certs      []idnCertRow
	// CanWrite: the enable, bind, unbind and delete controls are offered.
	CanWrite             bool
	EnableCSRF, BindCSRF string
	BindErrs             formErrs
	Notice               string
}

// PasswordField is the bind form's PKCS#12 password.
func (d idnData) PasswordField() textField {
	f := d.BindErrs.field("password", "bind-password", "PKCS#12 password (for a .p12 or .pfx file only)", "")
	f.Type = "password"
	return f
}

// bindFields maps the API's field names of a bind refusal to the form's.
var bindFields = map[string]string{"certificate": "cert", "pkcs12_password": "password"}

func (c *Console) identityShow(w http.ResponseWriter, r *http.Request, s *session) {
	c.identityPage(w, r, s, http.StatusOK, idnData{}, "")
}

// identityPage renders the identity of the path with the bind form's
// errors d.BindErrs, or pageErr at the top.
func (c *Console) identityPage(w http.ResponseWriter, r *http.Request, s *session, code int, d idnData, pageErr string) {
	name := r.PathValue("name")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	id, err := c.api.GetIdentity(ctx, &pb.GetIdentityRequest{Name: name})
	if c.apiFailed(w, r, err) {
		return
	}
	role, nav := c.roleOf(r, s)
	d.navFlags, d.CanWrite, d.Name, d.Path = nav, caWriter(role), name, identityPath(name)
	v := signedInView(s, "Identity "+name, "identities")
	if err != nil {
		v.Error, code = apiMessage(err), statusOf(err)
	} else {
		d.Found, d.Enabled, d.Facts = true, id.GetEnabled(), identityFacts(id)
		for _, b := range id.GetCertificates() {
			d.Certs = append(d.Certs, idnCertRowOf(b, d.Path, d.CanWrite, c.now()))
		}
	}
	if pageErr != "" {
		v.Error = pageErr
	}
	if r.Method == http.MethodGet {
		d.Notice = identityNotice(r, d)
	}
	d.EnableCSRF, d.BindCSRF = csrfToken(s, d.Path+"/enabled"), csrfToken(s, d.Path+"/bind")
	v.Data = d
	c.render(w, code, "identity", v)
}

// identityFacts are an identity's facts.
func identityFacts(id *pb.Identity) []fact {
	state := "enabled"
	if !id.GetEnabled() {
		state = "disabled: refused on every site (identity_disabled)"
	}
	created := stamp(id.GetCreatedAt())
	if id.GetCreatedBy() != "" {
		created += " by token " + id.GetCreatedBy()
	}
	pinned := strings.Join(id.GetPinnedOn(), ", ")
	if pinned == "" {
		pinned = "no site"
	}
	return []fact{{Label: "Name", Value: id.GetName(), Code: true}, {Label: "State", Value: state},
		{Label: "Comment", Value: or(id.GetComment(), "—")}, {Label: "Pinned on", Value: pinned},
		{Label: "Created", Value: created}, {Label: "Updated", Value: or(stamp(id.GetUpdatedAt()), "—")}}
}

// or is s, or alt when s is empty.
func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func idnCertRowOf(b *pb.BoundCertificate, path string, canWrite bool, now time.Time) idnCertRow {
	info := b.GetInfo()
	row := idnCertRow{Fingerprint: b.GetSha256Fingerprint(), Subject: info.GetSubject(), Issuer: info.GetIssuer(),
		Expires: stamp(info.GetNotAfter()), SelfSigned: b.GetSelfSigned(), Bound: stamp(b.GetBoundAt())}
	if b.GetBoundBy() != "" {
		row.Bound += " by token " + b.GetBoundBy()
	}
	if x := info.GetNotAfter(); x != nil {
		switch t := x.AsTime(); {
		case !t.After(now):
			row.Expiry = "expired"
		case t.Sub(now) < expirySoon:
			row.Expiry = "soon"
		}
	}
	if canWrite {
		row.UnbindURL = path + "/unbind/" + row.Fingerprint
	}
	return row
}

// identityNotice is the notice of the page's query, when the identity
// bears it out.
func identityNotice(r *http.Request, d idnData) string {
	q := r.URL.Query()
	bound := func(fp string) bool {
		return slices.ContainsFunc(d.Certs, func(c idnCertRow) bool { return c.Fingerprint == fp })
	}
	switch {
	case !d.Found:
	case q.Get("created") != "":
		return "Identity " + d.Name + " is created."
	case q.Get("bound") != "" && bound(q.Get("bound")):
		return "Certificate " + q.Get("bound") + " is bound."
	case q.Get("unbound") != "" && !bound(q.Get("unbound")):
		return "Certificate " + q.Get("unbound") + " is unbound."
	case q.Get("enabled") == "true" && d.Enabled:
		return "Identity " + d.Name + " is enabled."
	case q.Get("enabled") == "false" && !d.Enabled:
		return "Identity " + d.Name + " is disabled."
	}
	return ""
}

// identityEnable enables or disables the identity (UpdateIdentity, mask
// enabled).
func (c *Console) identityEnable(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	on := r.PostFormValue("enabled") == "true"
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	_, err := c.api.UpdateIdentity(ctx, &pb.UpdateIdentityRequest{Identity: &pb.Identity{Name: name, Enabled: &on},
		UpdateMask: []string{"enabled"}})
	switch {
	case err == nil:
		http.Redirect(w, r, fmt.Sprintf("%s?enabled=%t", identityPath(name), on), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	default:
		c.identityPage(w, r, s, statusOf(err), idnData{}, apiMessage(err))
	}
}

// identityBind binds the uploaded certificate (PEM, DER or PKCS#12 with
// its password) with BindCertificate; a refusal is shown next to its
// field.
func (c *Console) identityBind(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	data, err := bindFile(r)
	if err != nil {
		c.identityPage(w, r, s, http.StatusUnprocessableEntity, idnData{BindErrs: formErrs{"cert": err.Error()}}, "")
		return
	}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	before, _ := c.api.GetIdentity(ctx, &pb.GetIdentityRequest{Name: name})
	id, err := c.api.BindCertificate(ctx, &pb.BindCertificateRequest{Name: name, Certificate: data,
		Pkcs12Password: r.PostFormValue("password")})
	switch {
	case err == nil:
		http.Redirect(w, r, identityPath(name)+"?bound="+newBinding(before, id), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	default:
		field, msg := refusalField(err, bindFields, "cert")
		if field == "cert" && strings.Contains(strings.ToLower(msg), "password") {
			field = "password" // a PKCS#12 file the password does not open
		}
		if field == "" {
			c.identityPage(w, r, s, statusOf(err), idnData{}, msg)
			return
		}
		c.identityPage(w, r, s, statusOf(err), idnData{BindErrs: formErrs{field: msg}}, "")
	}
}

// bindFile reads the bind form's file, bounded.
func bindFile(r *http.Request) ([]byte, error) {
	f, _, err := r.FormFile("cert")
	if err != nil {
		return nil, fmt.Errorf("choose a certificate file (PEM, DER, or PKCS#12 with its password)")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBindFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("the file could not be read: %w", err)
	case len(b) > maxBindFile:
		return nil, fmt.Errorf("the file is larger than %d KiB: not a client certificate", maxBindFile>>10)
	}
	return b, nil
}

// newBinding is the fingerprint after holds and before did not.
func newBinding(before, after *pb.Identity) string {
	for _, b := range after.GetCertificates() {
		if !slices.ContainsFunc(before.GetCertificates(), func(o *pb.BoundCertificate) bool {
			return o.GetSha256Fingerprint() == b.GetSha256Fingerprint()
		}) {
			return b.GetSha256Fingerprint()
		}
	}
	return ""
}
