package console

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// caValues are the fields of a client CA the edit form changes, as the
// form shows them; its hidden base carries them as JSON.
type caValues struct {
	Name      string   `json:"name"`
	CRLURLs   []string `json:"crl_urls"`
	OCSPURL   string   `json:"ocsp_url"`
	OCSPNonce bool     `json:"ocsp_nonce"`
}

// caMaskPaths are UpdateClientCA's update-mask paths, in form order.
var caMaskPaths = []string{"name", "crl_urls", "ocsp_url", "ocsp_nonce"}

// caEditForm is the edit form: its values (CRL URLs one a line), its
// base (the values it was rendered with, JSON) and the API's message
// next to the field it names.
type caEditForm struct {
	Name, CRLURLs, OCSPURL string
	OCSPNonce              bool
	Base                   string
	// Errors are by update-mask path.
	Errors map[string]string
}

func caValuesOf(ca *pb.ClientCA) caValues {
	return caValues{Name: ca.GetName(), CRLURLs: ca.GetCrlUrls(), OCSPURL: ca.GetOcspUrl(), OCSPNonce: ca.GetOcspNonce()}
}

// caEditFormOf is the edit form showing ca.
func caEditFormOf(ca *pb.ClientCA) caEditForm {
	v := caValuesOf(ca)
	base, _ := json.Marshal(v)
	return caEditForm{Name: v.Name, CRLURLs: strings.Join(v.CRLURLs, "\n"), OCSPURL: v.OCSPURL,
		OCSPNonce: v.OCSPNonce, Base: string(base)}
}

// postedCAForm is the edit form as posted.
func postedCAForm(r *http.Request) caEditForm {
	return caEditForm{Name: strings.TrimSpace(r.PostFormValue("name")), CRLURLs: r.PostFormValue("crl_urls"),
		OCSPURL: strings.TrimSpace(r.PostFormValue("ocsp_url")), OCSPNonce: r.PostFormValue("ocsp_nonce") == "true",
		Base: r.PostFormValue("base"), Errors: map[string]string{}}
}

// values are f's values, the CRL URLs split at spaces and line ends
// (a URL has neither).
func (f caEditForm) values() caValues {
	return caValues{Name: f.Name, CRLURLs: strings.Fields(f.CRLURLs), OCSPURL: f.OCSPURL, OCSPNonce: f.OCSPNonce}
}

// caMask is the update mask of the fields whose value in next differs
// from base, in form order.
func caMask(base, next caValues) []string {
	var mask []string
	for _, p := range caMaskPaths {
		var same bool
		switch p {
		case "name":
			same = base.Name == next.Name
		case "crl_urls":
			same = slices.Equal(base.CRLURLs, next.CRLURLs)
		case "ocsp_url":
			same = base.OCSPURL == next.OCSPURL
		case "ocsp_nonce":
			same = base.OCSPNonce == next.OCSPNonce
		}
		if !same {
			mask = append(mask, p)
		}
	}
	return mask
}

// caEdit saves the edit form with UpdateClientCA, naming in the update
// mask exactly the fields changed from what the form showed (its base; a
// field someone else changed meanwhile keeps their value). A refusal is
// shown next to the field it names, with the input kept.
func (c *Console) caEdit(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	form := postedCAForm(r)
	var base caValues
	if json.Unmarshal([]byte(form.Base), &base) != nil {
		ca, err := c.api.GetClientCA(ctx, &pb.GetClientCARequest{Id: id})
		if c.apiFailed(w, r, err) {
			return
		}
		if err != nil {
			c.caDetailPage(w, r, s, httpCode(err), caState{pageError: status.Convert(err).Message()})
			return
		}
		base = caValuesOf(ca)
		b, _ := json.Marshal(base)
		form.Base = string(b)
	}
	next := form.values()
	mask := caMask(base, next)
	if len(mask) == 0 {
		c.caDetailPage(w, r, s, http.StatusOK, caState{edit: &form, notice: "Nothing changed."})
		return
	}
	// The check is for those who may edit: anyone else gets the API's
	// refusal, not a stale form.
	if c.caRightsOf(ctx).edit {
		if stale, err := c.caStale(ctx, id, &form, base, mask); err != nil || len(stale) > 0 {
			c.caEditStale(w, r, s, &form, stale, err)
			return
		}
	}
	_, err := c.api.UpdateClientCA(ctx, &pb.UpdateClientCARequest{Id: id, Name: next.Name, CrlUrls: next.CRLURLs,
		OcspUrl: next.OCSPURL, OcspNonce: next.OCSPNonce, UpdateMask: mask})
	switch {
	case err == nil:
		http.Redirect(w, r, caPath(id)+"?saved="+strings.Join(mask, ","), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	case status.Code(err) == codes.PermissionDenied:
		c.caDetailPage(w, r, s, http.StatusForbidden, caState{pageError: status.Convert(err).Message()})
	default:
		msg := status.Convert(err).Message()
		st := caState{edit: &form, pageError: msg}
		if f := caFieldOf(err); f != "" {
			form.Errors[f], st.pageError = msg, "The API refused the change; nothing was saved."
		}
		c.caDetailPage(w, r, s, httpCode(err), st)
	}
}

// caFieldOf is the edit form's field an UpdateClientCA refusal names:
// its message's "path: " prefix, or name for a name another CA has.
func caFieldOf(err error) string {
	msg := status.Convert(err).Message()
	if status.Code(err) == codes.AlreadyExists {
		return "name"
	}
	if status.Code(err) != codes.InvalidArgument {
		return ""
	}
	path, _, _ := strings.Cut(msg, ": ")
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	if slices.Contains(caMaskPaths, path) {
		return path
	}
	return ""
}

// caSavedNotice says which fields a save changed, from the ?saved= list,
// naming only known mask paths.
func caSavedNotice(saved string) string {
	return savedFieldsNotice(saved, func(p string) bool { return slices.Contains(caMaskPaths, p) })
}

// caAssign assigns the CA to the chosen site with AssignClientCA.
func (c *Console) caAssign(w http.ResponseWriter, r *http.Request, s *session) {
	c.caSites(w, r, s, true)
}

// caUnassign unassigns the CA from a site with UnassignClientCA.
func (c *Console) caUnassign(w http.ResponseWriter, r *http.Request, s *session) {
	c.caSites(w, r, s, false)
}

// caSites assigns or unassigns; a refusal is shown above the assign form.
func (c *Console) caSites(w http.ResponseWriter, r *http.Request, s *session, assign bool) {
	id, host := r.PathValue("id"), strings.TrimSpace(r.PostFormValue("site"))
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	req := &pb.AssignClientCARequest{Id: id, Sites: []string{host}}
	if host == "" {
		req.Sites = nil
	}
	var err error
	if assign {
		_, err = c.api.AssignClientCA(ctx, req)
	} else {
		_, err = c.api.UnassignClientCA(ctx, req)
	}
	switch {
	case err == nil:
		http.Redirect(w, r, caPath(id), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	default:
		c.caDetailPage(w, r, s, httpCode(err), caState{assignErr: status.Convert(err).Message()})
	}
}
