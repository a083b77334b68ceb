package xds

import (
	"errors"
	"fmt"
)

// SiteError is why a site's Envoy configuration could not be translated.
// The site is left out; the other sites are served as usual.
type SiteError struct {
	Host string
	Err  error
}

func (e *SiteError) Error() string {
	return fmt.Sprintf("site %s (left out of the configuration): %v", e.Host, e.Err)
}

func (e *SiteError) Unwrap() error { return e.Err }

// ErrInvalidOptions is wrapped by the errors of Options that cannot be
// translated (addresses, timeouts): nothing can be served with them.
var ErrInvalidOptions = errors.New("xds: invalid options")
