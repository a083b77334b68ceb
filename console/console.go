// Package console serves mtlsgate's web console under /ui/ on the admin
// listener: server-rendered pages that sign in with an API token and read
// and change everything through the Certificate Manager API's own gRPC
// client, so the API's authentication, permission checks and audit log
// apply to every page (docs/console.md).
package console

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// prefix is the path the console is served under.
const prefix = "/ui/"

// Defaults of Options.
const (
	// DefaultIdleTimeout ends a session this long after its last request.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultMaxAge ends a session this long after sign-in.
	DefaultMaxAge = 12 * time.Hour
	// refreshEvery is how stale a session's last activity may get before
	// the cookie is sealed again (not on every request).
	refreshEvery = time.Minute
	// maxUpload bounds an upload form's body (the admin listener's guard
	// bounds it further).
	maxUpload = 2 << 20
)

// Options configure a Console.
type Options struct {
	// API is the Certificate Manager client every page goes through.
	API pb.CertificateManagerServiceClient
	// Sealer seals the session cookie (the server's seal keyring).
	Sealer Sealer
	// IdleTimeout and MaxAge bound a session (zero: the defaults).
	IdleTimeout, MaxAge time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Log receives errors the user is not shown in full (nil: discard).
	Log *slog.Logger
}

// Console is the web console's HTTP handler.
type Console struct {
	api          pb.CertificateManagerServiceClient
	sealer       Sealer
	idle, maxAge time.Duration
	now          func() time.Time
	log          *slog.Logger
	mux          *http.ServeMux
}

// New returns the console for o. It fails when o lacks the API client or
// the sealer.
func New(o Options) (*Console, error) {
	if o.API == nil || o.Sealer == nil {
		return nil, errors.New("console: an API client and a sealer are required")
	}
	c := &Console{api: o.API, sealer: o.Sealer, idle: o.IdleTimeout, maxAge: o.MaxAge, now: o.Now, log: o.Log}
	if c.idle <= 0 {
		c.idle = DefaultIdleTimeout
	}
	if c.maxAge <= 0 {
		c.maxAge = DefaultMaxAge
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.routes()
	return c, nil
}

// Prefix is the path to mount the console's handler at.
func (c *Console) Prefix() string { return prefix }

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /ui/static/{name}", serveStatic)
	m.HandleFunc("GET /ui/{$}", c.home)
	m.HandleFunc("GET /ui/signin", c.signinPage)
	m.HandleFunc("POST /ui/signin", c.signin)
	m.HandleFunc("POST /ui/signout", c.signedIn(c.signout))
	m.HandleFunc("GET /ui/cas", c.signedIn(c.caList))
	m.HandleFunc("POST /ui/cas", c.signedIn(c.caUpload))
	m.HandleFunc("GET /ui/sites", c.signedIn(c.siteList))
	m.HandleFunc("POST /ui/sites", c.signedIn(c.siteCreate))
	m.HandleFunc("GET /ui/sites/{host}", c.signedIn(c.siteShow))
	m.HandleFunc("POST /ui/sites/{host}/settings", c.signedIn(c.siteSettings))
	m.HandleFunc("POST /ui/sites/{host}/assign", c.signedIn(c.siteAssign))
	m.HandleFunc("POST /ui/sites/{host}/unassign", c.signedIn(c.siteUnassign))
	m.HandleFunc("GET /ui/expiry", c.signedIn(c.expiry))
	m.HandleFunc("GET /ui/crls", c.signedIn(c.crlList))
	m.HandleFunc("POST /ui/crls", c.signedIn(c.crlUpload))
	m.HandleFunc("GET /ui/tokens", c.signedIn(c.tokenList))
	m.HandleFunc("POST /ui/tokens", c.signedIn(c.tokenCreate))
	m.HandleFunc("GET /ui/tokens/{id}/revoke", c.signedIn(c.tokenRevokeConfirm))
	m.HandleFunc("POST /ui/tokens/{id}/revoke", c.signedIn(c.tokenRevoke))
	m.HandleFunc("GET /ui/audit", c.signedIn(c.auditList))
	c.caRoutes(m)       // ca_detail.go
	c.policyRoutes(m)   // site_policy.go
	c.siteEditRoutes(m) // site_edit.go
	c.denyRoutes(m)     // deny.go
	c.identityRoutes(m) // identities.go
	c.issuingRoutes(m)  // issuing.go
	c.webhookRoutes(m)  // webhooks.go
	c.refusalRoutes(m)  // refusals.go
	c.mux = m
}

// ServeHTTP serves the console with its security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodPost && !sameOrigin(r) {
		http.Error(w, "refused: a change must come from a page of this console (cross-site request)", http.StatusForbidden)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// pageHandler serves a signed-in page with its session.
type pageHandler func(w http.ResponseWriter, r *http.Request, s *session)

// signedIn runs h with the request's session; without a valid one it
// sends the browser to sign-in. A POST must carry the session's CSRF
// token for its action.
func (c *Console) signedIn(h pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(w, r)
		if err != nil {
			c.toSignin(w, r, err)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
			if err := r.ParseMultipartForm(maxUpload); err != nil && !errors.Is(err, http.ErrNotMultipart) {
				http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
				return
			}
			if !validCSRF(s, r) {
				http.Error(w, "refused: the form's CSRF token is missing or wrong; reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r, s)
	}
}

// toSignin clears a session that does not hold and sends the browser to
// the sign-in page, saying why.
func (c *Console) toSignin(w http.ResponseWriter, r *http.Request, why error) {
	reason := ""
	switch {
	case errors.Is(why, errExpired):
		reason = "expired"
	case errors.Is(why, errTampered):
		reason = "invalid"
	case errors.Is(why, errRevoked):
		reason = "revoked"
	}
	if !errors.Is(why, errNoSession) {
		clearSession(w, r)
	}
	target := prefix + "signin"
	if reason != "" {
		target += "?why=" + reason
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if _, err := c.session(w, r); err != nil {
		c.toSignin(w, r, err)
		return
	}
	http.Redirect(w, r, prefix+"cas", http.StatusSeeOther)
}
