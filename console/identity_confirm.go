package console

import (
	"net/http"
	"net/url"
	"strconv"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// identityConfirm renders the confirmation page of an action on the
// identity of the path: build fills in the question for the identity
// read, or says why it cannot be done.
func (c *Console) identityConfirm(w http.ResponseWriter, r *http.Request, s *session, title string,
	build func(id *pb.Identity, d *confirmData) string) {
	name := r.PathValue("name")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	id, err := c.api.GetIdentity(ctx, &pb.GetIdentityRequest{Name: name})
	if c.apiFailed(w, r, err) {
		return
	}
	role, nav := c.roleOf(r, s)
	d := confirmData{navFlags: nav, Back: identityPath(name), BackLabel: "Back to identity " + name}
	code, pageErr := http.StatusOK, ""
	switch {
	case err != nil:
		code, pageErr = statusOf(err), apiMessage(err)
		d.Back, d.BackLabel = prefix+"identities", "Back to the identities"
	case !caWriter(role):
		code, pageErr = http.StatusForbidden, "Your role may not change identities."
	default:
		pageErr = build(id, &d)
		if pageErr != "" {
			code = http.StatusNotFound
		}
	}
	c.confirmPage(w, s, title, "identities", code, d, pageErr)
}

func (c *Console) identityDeleteConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	c.identityConfirm(w, r, s, "Delete an identity", func(id *pb.Identity, d *confirmData) string {
		d.Action = identityPath(id.GetName()) + "/delete"
		d.Facts = identityFacts(id)
		d.Question = "Delete identity " + id.GetName() + " and its " + plural(len(id.GetCertificates()), "bound certificate") +
			"? Its self-signed certificates are refused from the next request; its CA-issued ones are matched by the CAs alone. " +
			"Pins and access rules naming it stay and name nobody."
		d.Button, d.ButtonID = "Delete", "confirm-delete"
		return ""
	})
}

func (c *Console) identityUnbindConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	fp := r.PathValue("fp")
	c.identityConfirm(w, r, s, "Unbind a certificate", func(id *pb.Identity, d *confirmData) string {
		for _, b := range id.GetCertificates() {
			if b.GetSha256Fingerprint() != fp {
				continue
			}
			row := idnCertRowOf(b, "", false, c.now())
			kind := "CA-issued"
			if row.SelfSigned {
				kind = "self-signed"
			}
			d.Action = identityPath(id.GetName()) + "/unbind/" + fp
			d.Facts = []fact{{Label: "Identity", Value: id.GetName(), Code: true}, {Label: "Fingerprint", Value: fp, Code: true},
				{Label: "Kind", Value: kind}, {Label: "Subject", Value: row.Subject}, {Label: "Expires", Value: row.Expires}}
			d.Question = "Unbind this certificate from " + id.GetName() + "? It no longer names the identity from the next request" +
				map[bool]string{true: ", and a self-signed one is refused.", false: "."}[row.SelfSigned]
			d.Button, d.ButtonID = "Unbind", "confirm-unbind"
			return ""
		}
		return "No certificate with the fingerprint " + fp + " is bound to " + id.GetName() + "."
	})
}

// plural is n things ("1 bound certificate", "2 bound certificates").
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// identityDelete deletes the identity with DeleteIdentity.
func (c *Console) identityDelete(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	_, err := c.api.DeleteIdentity(ctx, &pb.DeleteIdentityRequest{Name: name})
	if err != nil {
		c.actionRefused(w, r, s, "Delete an identity", "identities", err, identityPath(name))
		return
	}
	http.Redirect(w, r, prefix+"identities?deleted="+url.QueryEscape(name), http.StatusSeeOther)
}

// identityUnbind unbinds the certificate with UnbindCertificate.
func (c *Console) identityUnbind(w http.ResponseWriter, r *http.Request, s *session) {
	name, fp := r.PathValue("name"), r.PathValue("fp")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	_, err := c.api.UnbindCertificate(ctx, &pb.UnbindCertificateRequest{Name: name, Sha256Fingerprint: fp})
	if err != nil {
		c.actionRefused(w, r, s, "Unbind a certificate", "identities", err, identityPath(name))
		return
	}
	http.Redirect(w, r, identityPath(name)+"?unbound="+url.QueryEscape(fp), http.StatusSeeOther)
}
