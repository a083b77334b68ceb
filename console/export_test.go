package console

import "time"

// SealTestSession seals a session for token with the given times, as a
// sign-in would have.
func SealTestSession(sl Sealer, token string, issued, active time.Time) (string, error) {
	s, err := newSession(token, issued)
	if err != nil {
		return "", err
	}
	s.Active = active.Unix()
	return sealSession(sl, s)
}

// CSRFTokenOf is the CSRF token for action of the session sealed in v.
func CSRFTokenOf(sl Sealer, v, action string) (string, error) {
	s, err := openSession(sl, v, time.Now(), time.Hour, time.Hour)
	if err != nil {
		return "", err
	}
	return csrfToken(s, action), nil
}
