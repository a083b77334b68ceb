package crlset

import (
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every error Parse and ParseVerified return for a
// CRL they cannot use: bad DER, fields out of place, bad values, and also the
// unsupported features reported with ErrUnsupported. The message says which
// field (and which revokedCertificates index) is at fault.
var ErrMalformed = errors.New("crlset: malformed CRL")

// ErrUnsupported is wrapped, together with ErrMalformed, by the errors for
// well-formed CRLs that use a feature this package does not implement and that
// would change the meaning of the list if ignored: indirect CRLs, delta CRLs,
// reason-partitioned CRLs, attribute-certificate CRLs, unrecognised critical
// extensions, and serial numbers longer than MaxSerialLen octets.
var ErrUnsupported = errors.New("crlset: unsupported CRL")

// malformed returns an error wrapping ErrMalformed; format says what is wrong.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// unsupportedError is an error for a CRL feature this package refuses.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string   { return ErrUnsupported.Error() + ": " + e.msg }
func (e *unsupportedError) Unwrap() []error { return []error{ErrUnsupported, ErrMalformed} }

// unsupported returns an error wrapping ErrUnsupported and ErrMalformed.
func unsupported(format string, args ...any) error {
	return &unsupportedError{msg: fmt.Sprintf(format, args...)}
}
