// Package pki parses and checks the X.509 material users upload to
// mtlsgate: client CA bundles, certificate revocation lists, server
// certificate chains with their private keys, and site hostnames.
//
// Every function that can fail returns an error wrapping exactly one of the
// sentinel errors below (test with errors.Is), with a message naming what is
// wrong: which PEM block (counted from 1 in input order), which certificate
// (counted from 1), which type. Messages never contain private key bytes or
// their base64 encoding.
//
// The package also provides the helpers the ext_authz hot path needs:
// fingerprints, serial numbers and RFC 4514 distinguished names (see Info).
//
// Validity periods are not checked here: an expired certificate parses
// fine, and callers decide what to do with Info's not_before/not_after.
package pki

import (
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them.
var (
	// ErrEmpty: the input holds no certificate, CRL or private key (an
	// empty hostname is ErrHostname).
	ErrEmpty = errors.New("pki: empty input")
	// ErrMalformed: the input is not parsable PEM or DER, has a truncated or
	// garbled PEM block, has an unexpected PEM block type, or breaks a
	// structural rule (duplicates, wrong chain order, ...).
	ErrMalformed = errors.New("pki: malformed input")
	// ErrPrivateKey: the input contains a private key where certificates
	// (or a CRL) were expected.
	ErrPrivateKey = errors.New("pki: unexpected private key")
	// ErrNotCA: a certificate in a CA bundle is not a CA certificate.
	ErrNotCA = errors.New("pki: not a CA certificate")
	// ErrKeyMismatch: the server private key does not match the leaf
	// certificate's public key.
	ErrKeyMismatch = errors.New("pki: private key does not match certificate")
	// ErrCRLIssuer: no candidate certificate issued the CRL.
	ErrCRLIssuer = errors.New("pki: CRL issuer not found")
	// ErrHostname: the site hostname is not valid.
	ErrHostname = errors.New("pki: invalid hostname")
	// (ErrPKCS12Password, in pkcs12.go: a PKCS#12 file's content does
	// not decrypt with the password given.)
)

// errorf returns an error wrapping kind, whose message is kind's text
// followed by the formatted detail.
func errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}

// maxQuoted bounds the length of a user-supplied string (PEM type,
// hostname) echoed, quoted, in an error message.
const maxQuoted = 80

// quote returns s quoted with Go syntax, cut so that the quoted text is at
// most maxQuoted bytes (escapes included), with "..." marking a cut.
func quote(s string) string {
	// Quoting adds two bytes: a longer s is cut, and only its head is
	// quoted (s may be megabytes long).
	if len(s)+2 <= maxQuoted {
		if q := strconv.Quote(s); len(q) <= maxQuoted {
			return q
		}
	}
	var q string
	for n := min(len(s), maxQuoted); n > 0; n-- {
		if q = strconv.Quote(s[:n]); len(q) <= maxQuoted {
			break
		}
	}
	return q + "..."
}

// dn renders a distinguished name (RFC 4514) for error messages, capped
// in length and made valid UTF-8.
func dn(n pkix.Name) string {
	s := n.String()
	if s == "" {
		return "(empty DN)"
	}
	const limit = 256
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
