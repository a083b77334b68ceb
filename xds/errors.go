package xds

import (
	"errors"
	"fmt"
)

// SiteError is why a site's Envoy configuration could not be translated.
// The other sites are served as usual.
type SiteError struct {
	Host string
	// LastGood: the site keeps being served with the configuration of its
	// last translation that succeeded. Otherwise it is left out, and Envoy
	// refuses its requests (no filter chain, no virtual host).
	LastGood bool
	Err      error
}

func (e *SiteError) Error() string {
	served := "left out of the configuration"
	if e.LastGood {
		served = "still served with its last good configuration"
	}
	return fmt.Sprintf("site %s (%s): %v", e.Host, served, e.Err)
}

func (e *SiteError) Unwrap() error { return e.Err }

// ErrInvalidOptions is wrapped by the errors of Options that cannot be
// translated (addresses, timeouts): nothing can be served with them.
var ErrInvalidOptions = errors.New("xds: invalid options")
