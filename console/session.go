package console

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// CookieName is the name of the session cookie.
const CookieName = "mtlsgate_session"

// sessionAAD binds a sealed session to its purpose: a value the keyring
// sealed for anything else (a private key in the store) does not open as a
// session, and a session does not open as anything else.
var sessionAAD = []byte("mtlsgate console session v1")

// Sealer encrypts and authenticates small values; *seal.Keyring is one.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(ciphertext, aad []byte) ([]byte, error)
}

// session is what the sealed cookie holds.
type session struct {
	// Token is the API token the user signed in with.
	Token string `json:"t"`
	// Issued and Active are the sign-in time and the last request's, in
	// Unix seconds.
	Issued int64 `json:"i"`
	Active int64 `json:"a"`
	// CSRFKey keys the HMAC of this session's form tokens.
	CSRFKey []byte `json:"k"`
	// CanWriteCAs says whether to offer CA uploads (the API decides).
	CanWriteCAs bool `json:"w,omitempty"`
	// Role is the token's role from WhoAmI at sign-in, for the
	// navigation (a token's role never changes; a revoked token ends
	// the session at its next call).
	Role int32 `json:"r,omitempty"`
}

// Reasons a session is refused, shown on the sign-in page.
var (
	errNoSession = errors.New("no session")
	errExpired   = errors.New("session expired")
	errTampered  = errors.New("session does not open")
)

// newSession is a fresh session for token at now.
func newSession(token string, now time.Time) (*session, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("console: csrf key: %w", err)
	}
	return &session{Token: token, Issued: now.Unix(), Active: now.Unix(), CSRFKey: key}, nil
}

// sealSession returns the cookie value of s.
func sealSession(sl Sealer, s *session) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("console: encode session: %w", err)
	}
	ct, err := sl.Seal(b, sessionAAD)
	if err != nil {
		return "", fmt.Errorf("console: seal session: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

// openSession opens a cookie value and checks both expiries at now.
func openSession(sl Sealer, v string, now time.Time, idle, maxAge time.Duration) (*session, error) {
	ct, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, errTampered
	}
	b, err := sl.Open(ct, sessionAAD)
	if err != nil {
		return nil, errTampered
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil || s.Token == "" || len(s.CSRFKey) != 32 {
		return nil, errTampered
	}
	issued, active := time.Unix(s.Issued, 0), time.Unix(s.Active, 0)
	if now.Sub(active) > idle || now.Sub(issued) > maxAge || active.Before(issued) || active.After(now.Add(time.Minute)) {
		return nil, errExpired
	}
	return &s, nil
}

// cookie is the session cookie carrying value; an empty value with
// maxAge -1 clears it.
func cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: CookieName, Value: value, Path: prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	}
}

// session returns the request's session, refreshing its last activity
// (and the cookie) at most once a refreshEvery.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (*session, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return nil, errNoSession
	}
	now := c.now()
	s, err := openSession(c.sealer, ck.Value, now, c.idle, c.maxAge)
	if err != nil {
		return nil, err
	}
	if now.Sub(time.Unix(s.Active, 0)) >= refreshEvery {
		s.Active = now.Unix()
		if err := c.setSession(w, r, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// setSession seals s into the response's cookie.
func (c *Console) setSession(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := sealSession(c.sealer, s)
	if err != nil {
		return err
	}
	http.SetCookie(w, cookie(r, v, 0))
	return nil
}

// clearSession removes the cookie.
func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, cookie(r, "", -1))
}
