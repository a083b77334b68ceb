package console

import (
	"net/http"
	"net/url"

	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// denyRemoveData is the removal confirmation's data.
type denyRemoveData struct {
	navFlags
	Entry      denyRow
	Found      bool
	RemoveCSRF string
}

// denyRemoveConfirm asks before removing an entry (a GET changes nothing).
func (c *Console) denyRemoveConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.ListDenyEntries(ctx, &pb.ListDenyEntriesRequest{})
	sc := c.denyScopeOf(r, s)
	d := denyRemoveData{navFlags: sc.nav, RemoveCSRF: csrfToken(s, prefix+"deny/"+id+"/remove")}
	if err != nil {
		c.apiRefused(w, r, s, "Remove a denylist entry", "deny-remove", "deny", d, err)
		return
	}
	for _, e := range resp.GetEntries() {
		if e.GetId() == id {
			d.Entry, d.Found = denyRowOf(e, c.now(), sc.may(e.GetSite())), true
		}
	}
	v, code := signedInView(s, "Remove a denylist entry", "deny"), http.StatusOK
	switch {
	case !d.Found:
		v.Error, code = "No denylist entry has the id "+id+".", http.StatusNotFound
	case d.Entry.RemoveURL == "":
		v.Error = "Your role may not remove this entry."
	}
	v.Data = d
	c.render(w, code, "deny-remove", v)
}

// denyRemove removes the entry with DeleteDenyEntry, naming its site when
// it has one (as a site-manager must).
func (c *Console) denyRemove(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	_, err := c.api.DeleteDenyEntry(ctx, &pb.DeleteDenyEntryRequest{Id: id, Site: r.PostFormValue("site")})
	if err != nil {
		if c.apiFailed(w, r, err) {
			return
		}
		v := signedInView(s, "Remove a denylist entry", "deny")
		v.Error = status.Convert(err).Message()
		v.Data = denyRemoveData{navFlags: c.denyScopeOf(r, s).nav}
		c.render(w, statusOf(err), "deny-remove", v)
		return
	}
	http.Redirect(w, r, prefix+"deny?removed="+url.QueryEscape(id), http.StatusSeeOther)
}
