package console

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// roleNames are the roles a token may have, as the CLI writes them.
var roleNames = []string{"viewer", "site-manager", "ca-manager", "admin"}

// roleName is a role as the CLI writes it: "ca-manager".
func roleName(r pb.Role) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_")), "_", "-")
}

// roleOf parses a role name; unknown names are ROLE_UNSPECIFIED, which
// the API refuses with its own message.
func roleOf(name string) pb.Role {
	return pb.Role(pb.Role_value["ROLE_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))])
}

// tokenRow is one token in the list.
type tokenRow struct {
	ID, Name, Role, Sites, Created, CreatedBy, Revoked string
	RevokeURL                                          string
}

// tokensData is the token page's data.
type tokensData struct {
	navFlags
	Tokens     []tokenRow
	Roles      []string
	CreateCSRF string
	Notice     string
	// The create form's values after a refusal, and the API's message next
	// to the field it concerns.
	Name, Role, Sites                string
	NameError, RoleError, SitesError string
}

// tokenCreatedData is the page showing a new token's secret, once.
type tokenCreatedData struct {
	navFlags
	Token  tokenRow
	Secret string
}

// tokenRevokeData is the confirmation page of a revocation.
type tokenRevokeData struct {
	navFlags
	Token      tokenRow
	RevokeCSRF string
}

func tokenRowOf(t *pb.Token) tokenRow {
	row := tokenRow{ID: t.GetId(), Name: t.GetName(), Role: roleName(t.GetRole()), Sites: strings.Join(t.GetSites(), ", "),
		Created: stamp(t.GetCreatedAt()), CreatedBy: t.GetCreatedBy(), Revoked: stamp(t.GetRevokedAt()),
		RevokeURL: prefix + "tokens/" + url.PathEscape(t.GetId()) + "/revoke"}
	return row
}

// listTokens reads the tokens; without an error, the caller is an admin.
func (c *Console) listTokens(r *http.Request, s *session) ([]tokenRow, error) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.ListTokens(ctx, &pb.ListTokensRequest{})
	var rows []tokenRow
	for _, t := range resp.GetTokens() {
		rows = append(rows, tokenRowOf(t))
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Created > rows[j].Created })
	return rows, err
}

// apiRefused renders page with the API's refusal err at the top.
func (c *Console) apiRefused(w http.ResponseWriter, r *http.Request, s *session, title, page, nav string, data any, err error) {
	if c.apiFailed(w, r, err) {
		return
	}
	code := http.StatusBadGateway
	if status.Code(err) == codes.PermissionDenied {
		code = http.StatusForbidden
	}
	v := signedInView(s, title, nav)
	v.Error, v.Data = status.Convert(err).Message(), data
	c.render(w, code, page, v)
}

func (c *Console) tokenList(w http.ResponseWriter, r *http.Request, s *session) {
	d := tokensData{Role: "viewer"}
	if id := r.URL.Query().Get("revoked"); id != "" {
		d.Notice = "Token " + id + " is revoked."
	}
	c.tokenPage(w, r, s, http.StatusOK, d)
}

// tokenPage renders the token list and the create form state d.
func (c *Console) tokenPage(w http.ResponseWriter, r *http.Request, s *session, code int, d tokensData) {
	rows, err := c.listTokens(r, s)
	d.navFlags = c.navFor(r, s)
	if err != nil {
		c.apiRefused(w, r, s, "API tokens", "tokens", "tokens", d, err)
		return
	}
	d.Tokens, d.Roles, d.CreateCSRF = rows, roleNames, csrfToken(s, prefix+"tokens")
	v := signedInView(s, "API tokens", "tokens")
	v.Data = d
	c.render(w, code, "tokens", v)
}

// tokenCreate creates a token with CreateToken and shows its secret this
// once; a refusal is shown next to the field it concerns.
func (c *Console) tokenCreate(w http.ResponseWriter, r *http.Request, s *session) {
	d := tokensData{Name: strings.TrimSpace(r.PostFormValue("name")), Role: r.PostFormValue("role"),
		Sites: r.PostFormValue("sites")}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.CreateToken(ctx, &pb.CreateTokenRequest{Name: d.Name, Role: roleOf(d.Role), Sites: splitSites(d.Sites)})
	switch {
	case err == nil:
		w.Header().Set("Cache-Control", "no-store")
		v := signedInView(s, "Token created", "tokens")
		v.Data = tokenCreatedData{navFlags: navFlags{Admin: true, Auditor: s.CanWriteCAs},
			Token: tokenRowOf(resp.GetToken()), Secret: resp.GetSecret()}
		c.render(w, http.StatusOK, "token-created", v)
	case status.Code(err) == codes.InvalidArgument || status.Code(err) == codes.NotFound:
		msg := status.Convert(err).Message()
		switch {
		case strings.HasPrefix(msg, "role:"):
			d.RoleError = msg
		case strings.HasPrefix(msg, "sites:"), status.Code(err) == codes.NotFound:
			d.SitesError = msg
		default:
			d.NameError = msg
		}
		c.tokenPage(w, r, s, http.StatusUnprocessableEntity, d)
	default:
		c.apiRefused(w, r, s, "API tokens", "tokens", "tokens", tokensData{}, err)
	}
}

// splitSites splits the sites field at commas and spaces.
func splitSites(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// tokenRevokeConfirm asks, without script, whether to revoke the token.
func (c *Console) tokenRevokeConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	rows, err := c.listTokens(r, s)
	d := tokenRevokeData{navFlags: c.navFor(r, s)}
	if err != nil {
		c.apiRefused(w, r, s, "Revoke a token", "token-revoke", "tokens", d, err)
		return
	}
	id := r.PathValue("id")
	for _, row := range rows {
		if row.ID == id {
			d.Token = row
		}
	}
	v, code := signedInView(s, "Revoke a token", "tokens"), http.StatusOK
	if d.Token.ID == "" {
		v.Error, code = "No token has the id "+id+".", http.StatusNotFound
	}
	d.RevokeCSRF = csrfToken(s, prefix+"tokens/"+id+"/revoke")
	v.Data = d
	c.render(w, code, "token-revoke", v)
}

// tokenRevoke revokes the token with RevokeToken.
func (c *Console) tokenRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	if _, err := c.api.RevokeToken(ctx, &pb.RevokeTokenRequest{Id: id}); err != nil {
		c.apiRefused(w, r, s, "Revoke a token", "token-revoke", "tokens", tokenRevokeData{Token: tokenRow{ID: id}}, err)
		return
	}
	http.Redirect(w, r, prefix+"tokens?revoked="+url.QueryEscape(id), http.StatusSeeOther)
}
