// Package xfcc reads the x-forwarded-client-cert (XFCC) header that Envoy
// (and the gateways built on it: Istio's, Envoy Gateway's) sets when it
// forwards a request whose client presented a certificate: the only way
// the client certificate reaches an ext_authz server whose proxy cannot
// forward the peer certificate itself.
//
// The format, as Envoy writes it: elements, one per proxy that handled
// the request, separated by ","; each element is pairs separated by ";";
// a pair is KEY=VALUE. Envoy writes
//
//	By=<URI SAN of its own certificate>   (one per URI SAN; unquoted)
//	Hash=<hex SHA-256 of the client certificate's DER>
//	Cert="<URL-encoded PEM of the client certificate>"
//	Chain="<URL-encoded PEM of the client's chain, leaf first>"
//	Subject="<RFC 2253 subject>"          (present even when empty)
//	URI=<URI SAN>                         (one per URI SAN; "URI=" for none)
//	DNS=<DNS SAN>                         (one per DNS SAN)
//
// and never escapes a value: quoted values run to the next double quote
// not preceded by a backslash (an RFC 2253 subject escapes its own quotes,
// commas and semicolons with backslashes), unquoted ones to the next ";"
// or ",". Issuer is read too (newer proxies write it, quoted).
//
// Every byte here comes from the network, possibly from a client that
// made the header up: Parse is strict (anything it does not expect is an
// error naming what), total (it never panics), bounded (MaxLen,
// MaxElements, MaxPairs) and linear in its input. Which element to trust
// is the caller's decision: an element is only as good as the proxy that
// added it.
package xfcc

import (
	"errors"
	"fmt"
)

// Bounds on what Parse accepts. MaxLen holds a few elements each with a
// certificate chain of several certificates, URL-encoded (about three
// bytes per byte of PEM), under Envoy's default 60 KiB header limit.
const (
	MaxLen      = 64 << 10
	MaxElements = 16
	MaxPairs    = 64 // per element
)

// ErrMalformed is wrapped by every Parse error.
var ErrMalformed = errors.New("xfcc: malformed x-forwarded-client-cert")

// Element is what one proxy said of the client certificate it saw. Cert
// and Chain are as sent (URL-encoded PEM); Subject and Issuer are the
// text between their quotes.
type Element struct {
	By      []string
	Hash    string // lowercase hex SHA-256 of the certificate's DER; "" when absent
	Cert    string
	Chain   string
	Subject string
	Issuer  string
	URI     []string
	DNS     []string
}

// Parse reads header into its elements, in order (the last one was added
// by the proxy nearest to the reader).
func Parse(header string) ([]Element, error) {
	if len(header) > MaxLen {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(header), MaxLen)
	}
	if i := controlByte(header); i >= 0 {
		return nil, fmt.Errorf("%w: control character at byte %d", ErrMalformed, i)
	}
	p := parser{s: header}
	var out []Element
	for {
		if len(out) == MaxElements {
			return nil, fmt.Errorf("%w: more than %d elements", ErrMalformed, MaxElements)
		}
		e, err := p.element()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if p.done() {
			return out, nil
		}
		p.i++ // the ","
	}
}

// controlByte is the index of the first control byte of s (below 0x20
// but tab, or 0x7f), -1 for none. Bytes from 0x80 up are left to the
// reader of each value.
func controlByte(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return i
		}
	}
	return -1
}
