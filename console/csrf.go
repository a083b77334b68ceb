package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// csrfField is the hidden form field carrying the CSRF token.
const csrfField = "csrf"

// csrfToken is the token of a form posting to action in session s: an
// HMAC of the action under the session's own key, so a token is good for
// one form of one session only.
func csrfToken(s *session, action string) string {
	m := hmac.New(sha256.New, s.CSRFKey)
	m.Write([]byte(action))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRF checks the token of a form posted to r's path.
func validCSRF(s *session, r *http.Request) bool {
	got := r.PostFormValue(csrfField)
	return got != "" && hmac.Equal([]byte(got), []byte(csrfToken(s, r.URL.Path)))
}

// sameOrigin reports whether a state-changing request comes from a page
// of the console's own origin. Browsers send Sec-Fetch-Site with every
// request and Origin with every POST; a request with neither is refused.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+r.Host
}
