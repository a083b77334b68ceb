package console

import (
	"net/http"
	"net/url"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// caDeleteData is the confirmation page of a client CA's deletion.
type caDeleteData struct {
	ID, Name, Path string
	// Sites are those the CA is assigned to, as the token sees them.
	Sites     []caSiteRow
	CanDelete bool
	// DeleteCSRF is the token of the confirmation form.
	DeleteCSRF string
	// Reason is the API's refusal of a delete without force.
	Reason string
}

// caDeleteConfirm asks, without script, whether to delete the CA, naming
// the sites it is assigned to.
func (c *Console) caDeleteConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	c.caDeletePage(w, r, s, http.StatusOK, "", "")
}

// caDeletePage renders the confirmation of r's CA, with the API's reason
// for refusing a delete, or a page error.
func (c *Console) caDeletePage(w http.ResponseWriter, r *http.Request, s *session, code int, reason, pageErr string) {
	id := r.PathValue("id")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	ca, err := c.api.GetClientCA(ctx, &pb.GetClientCARequest{Id: id})
	if c.apiFailed(w, r, err) {
		return
	}
	v := signedInView(s, "Delete a client CA", "cas")
	if err != nil {
		v.Error, v.Data = status.Convert(err).Message(), caDeleteData{}
		c.render(w, httpCode(err), "ca-delete", v)
		return
	}
	d := caDeleteData{ID: id, Name: ca.GetName(), Path: caPath(id), CanDelete: c.caRightsOf(ctx).edit,
		DeleteCSRF: csrfToken(s, prefix+"cas/"+id+"/delete"), Reason: reason}
	for _, host := range ca.GetSites() {
		d.Sites = append(d.Sites, caSiteRow{Host: host, Path: sitePath(host)})
	}
	sort.Slice(d.Sites, func(i, j int) bool { return d.Sites[i].Host < d.Sites[j].Host })
	v.Title = "Delete client CA " + ca.GetName()
	v.Error, v.Data = pageErr, d
	c.render(w, code, "ca-delete", v)
}

// caDelete deletes the CA with DeleteClientCA, forced when the box is
// checked. A refusal (an assigned CA without force) is shown on the
// confirmation page with the API's reason.
func (c *Console) caDelete(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	name := id
	if ca, err := c.api.GetClientCA(ctx, &pb.GetClientCARequest{Id: id}); err == nil {
		name = ca.GetName()
	}
	_, err := c.api.DeleteClientCA(ctx, &pb.DeleteClientCARequest{Id: id, Force: r.PostFormValue("force") == "true"})
	switch {
	case err == nil:
		http.Redirect(w, r, prefix+"cas?deleted="+url.QueryEscape(name), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	case status.Code(err) == codes.FailedPrecondition:
		c.caDeletePage(w, r, s, http.StatusConflict, status.Convert(err).Message(), "")
	default:
		c.caDeletePage(w, r, s, httpCode(err), "", status.Convert(err).Message())
	}
}
