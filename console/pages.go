package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/api"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// callTimeout bounds one API call of a page.
const callTimeout = 10 * time.Second

// errRevoked: the API no longer accepts the session's token.
var errRevoked = errors.New("token no longer accepted")

// withToken is a context for an API call made as token, naming the
// browser's address for the audit log (the API trusts it only from the
// in-process connection).
func withToken(r *http.Request, token string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token, api.ConsoleRemoteKey, r.RemoteAddr), cancel
}

// signinReasons are the messages the sign-in page shows for ?why=.
var signinReasons = map[string]string{
	"expired": "Your session expired. Sign in again.",
	"invalid": "Your session could not be read. Sign in again.",
	"revoked": "The API no longer accepts your token. Sign in with a valid one.",
	"out":     "You are signed out.",
}

// signinData is the sign-in page's data.
type signinData struct {
	Notice, TokenError string
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "signin", view{Title: "Sign in",
		Data: signinData{Notice: signinReasons[r.URL.Query().Get("why")]}})
}

// signin checks the token with a call every role may make and starts a
// session, with the token's role from WhoAmI: it decides what the pages
// offer (the API decides what is done).
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	ctx, cancel := withToken(r, token)
	defer cancel()
	if _, err := c.api.ListClientCAs(ctx, &pb.ListClientCAsRequest{}); err != nil || token == "" {
		msg := "The API refused this token."
		if err != nil && status.Code(err) != codes.Unauthenticated {
			msg = "The API could not be reached: " + status.Convert(err).Message()
		}
		c.render(w, http.StatusUnauthorized, "signin", view{Title: "Sign in", Data: signinData{TokenError: msg}})
		return
	}
	s, err := newSession(token, c.now())
	if err == nil {
		var me *pb.Token
		if me, err = c.api.WhoAmI(ctx, &pb.WhoAmIRequest{}); err == nil {
			role := me.GetRole()
			s.Role, s.CanWriteCAs = int32(role), role == pb.Role_ROLE_ADMIN || role == pb.Role_ROLE_CA_MANAGER
			err = c.setSession(w, r, s)
		}
	}
	if err != nil {
		c.log.Error("console sign-in failed", "err", err)
		http.Error(w, "the session could not be created", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, prefix+"cas", http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request, _ *session) {
	clearSession(w, r)
	http.Redirect(w, r, prefix+"signin?why=out", http.StatusSeeOther)
}

// apiFailed handles an API error common to every page: a token the API
// no longer accepts ends the session. It reports whether it answered.
func (c *Console) apiFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	if status.Code(err) == codes.Unauthenticated {
		c.toSignin(w, r, errRevoked)
		return true
	}
	return false
}

// caRow is one client CA in the list.
type caRow struct {
	Name, Subject, Fingerprint string
	// Path is the CA's own page (ca_detail.go).
	Path     string
	NotAfter time.Time
	// Expiry is "expired", "soon" (within expirySoon) or "".
	Expiry string
	Sites  int
}

// expirySoon is how near a CA's not-after the list warns.
const expirySoon = 30 * 24 * time.Hour

// casData is the client CA page's data.
type casData struct {
	CAs        []caRow
	CanUpload  bool
	UploadCSRF string
	// Name is the name field's value after a refused upload; NameError
	// and FileError the API's message next to the field it concerns.
	Name, NameError, FileError string
	// Notice says a CA was deleted (from the CA page).
	Notice string
	// Sites are the sites the upload may assign the CA to at once, with
	// those chosen in a refused upload checked; SitesError is the API's
	// message about them.
	Sites      []siteChoice
	SitesError string
	chosen     []string
}

// siteChoice is one site offered to an upload.
type siteChoice struct {
	Host    string
	Checked bool
}

func (c *Console) caList(w http.ResponseWriter, r *http.Request, s *session) {
	c.caPage(w, r, s, http.StatusOK, casData{}, "")
}

// listNotice is the notice of the list's ?deleted= or ?uploaded= (set by
// the redirects after a delete or an upload), shown only when the list
// bears it out, so a crafted link cannot claim a listed CA is gone or an
// absent one uploaded.
func listNotice(r *http.Request, rows []caRow) string {
	listed := func(name string) bool {
		return slices.ContainsFunc(rows, func(row caRow) bool { return row.Name == name })
	}
	q := r.URL.Query()
	if name := q.Get("deleted"); name != "" && !listed(name) {
		return "Client CA " + name + " is deleted."
	}
	if name := q.Get("uploaded"); name != "" && listed(name) {
		return "Client CA " + name + " is uploaded."
	}
	return ""
}

// caPage renders the client CA list with the upload form state d.
func (c *Console) caPage(w http.ResponseWriter, r *http.Request, s *session, code int, d casData, pageErr string) {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.ListClientCAs(ctx, &pb.ListClientCAsRequest{})
	if c.apiFailed(w, r, err) {
		return
	}
	v := signedInView(s, "Client CAs", "cas")
	if err != nil {
		v.Error, code = status.Convert(err).Message(), http.StatusBadGateway
	}
	if pageErr != "" {
		v.Error = pageErr
	}
	now := c.now()
	for _, ca := range resp.GetCas() {
		d.CAs = append(d.CAs, caRowOf(ca, now))
	}
	sort.Slice(d.CAs, func(i, j int) bool { return d.CAs[i].Name < d.CAs[j].Name })
	if r.Method == http.MethodGet {
		d.Notice = listNotice(r, d.CAs)
	}
	d.CanUpload = s.CanWriteCAs
	d.UploadCSRF = csrfToken(s, prefix+"cas")
	if d.CanUpload {
		sites, err := c.api.ListSites(ctx, &pb.ListSitesRequest{})
		if err != nil && v.Error == "" {
			v.Error = status.Convert(err).Message()
		}
		for _, site := range sites.GetSites() {
			h := site.GetHostname()
			d.Sites = append(d.Sites, siteChoice{Host: h, Checked: slices.Contains(d.chosen, h)})
		}
	}
	v.Data = d
	c.render(w, code, "cas", v)
}

func caRowOf(ca *pb.ClientCA, now time.Time) caRow {
	info := ca.GetInfo()
	row := caRow{Name: ca.GetName(), Path: caPath(ca.GetId()), Subject: info.GetSubject(), Fingerprint: info.GetSha256Fingerprint(),
		NotAfter: info.GetNotAfter().AsTime(), Sites: len(ca.GetSites())}
	switch {
	case !row.NotAfter.After(now):
		row.Expiry = "expired"
	case row.NotAfter.Sub(now) < expirySoon:
		row.Expiry = "soon"
	}
	return row
}

// caUpload uploads a bundle with CreateClientCA; a refusal is shown next
// to the field it concerns.
func (c *Console) caUpload(w http.ResponseWriter, r *http.Request, s *session) {
	d := casData{Name: strings.TrimSpace(r.PostFormValue("name")), chosen: r.PostForm["sites"]}
	bundle, err := formFile(r, "bundle")
	if err != nil {
		d.FileError = err.Error()
		c.caPage(w, r, s, http.StatusUnprocessableEntity, d, "")
		return
	}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	ca, err := c.api.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: d.Name, Bundle: bundle, Sites: d.chosen})
	switch {
	case err == nil:
		http.Redirect(w, r, prefix+"cas?uploaded="+url.QueryEscape(ca.GetName()), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	case status.Code(err) == codes.PermissionDenied:
		c.caPage(w, r, s, http.StatusForbidden, casData{}, status.Convert(err).Message())
	default:
		msg := status.Convert(err).Message()
		switch {
		case status.Code(err) == codes.NotFound:
			// The API says what it did not find ("site \"x\""), the
			// code says the rest.
			d.SitesError = msg + " was not found (deleted since the page was loaded?): nothing was uploaded"
		case strings.Contains(msg, "site "):
			d.SitesError = msg
		case strings.Contains(msg, "name"):
			d.NameError = msg
		default:
			d.FileError = msg
		}
		c.caPage(w, r, s, http.StatusUnprocessableEntity, d, "")
	}
}

// formFile reads the uploaded file of field.
func formFile(r *http.Request, field string) ([]byte, error) {
	f, _, err := r.FormFile(field)
	if err != nil {
		return nil, errors.New("choose a certificate file (PEM, DER or a PEM bundle)")
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("the file could not be read: %w", err)
	}
	return b, nil
}

// modeName is a mode as the CLI writes it: "enforce".
func modeName(m pb.Mode) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "MODE_"))
}
