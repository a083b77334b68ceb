// Package extract pulls what the ext_authz server needs out of an Envoy
// CheckRequest: the client's leaf certificate from
// attributes.source.certificate, and the normalised host name a request is
// for (from :authority or the TLS SNI).
//
// Every function here faces attacker-controlled input on the request path:
// they are strict (anything unexpected is refused, never repaired), total
// (they never panic) and cheap (LeafDER allocates only the DER it returns;
// Host allocates only when it has to lowercase).
package extract

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
)

// Errors returned by LeafDER. Every LeafDER error is, or wraps, one of them
// (test with errors.Is).
var (
	// ErrNoCertificate means the input is empty: the client sent no
	// certificate.
	ErrNoCertificate = errors.New("extract: no client certificate")
	// ErrMalformed means the input is not exactly one URL-encoded PEM
	// CERTIFICATE block; the wrapping error says what is wrong.
	ErrMalformed = errors.New("extract: malformed client certificate")
)

// MaxEncodedLen bounds the length of the encoded input LeafDER accepts;
// longer input is refused with ErrMalformed before any decoding. It holds a
// certificate of about 45 KiB of DER in either Envoy encoding, far beyond
// any real client certificate (usually under 2 KiB).
const MaxEncodedLen = 64 << 10

// The LeafDER errors, built once so that refusing garbage costs nothing.
// Their messages never contain input bytes.
var (
	errTooLong   = malformed("longer than %d bytes", MaxEncodedLen)
	errEscape    = malformed("bad percent-escape")
	errBlank     = malformed("only whitespace")
	errNotPEM    = malformed("not PEM: no BEGIN line")
	errBefore    = malformed("data before the PEM block")
	errNotCert   = malformed("PEM block type is not CERTIFICATE")
	errBeginLine = malformed("BEGIN line not followed by a line break")
	errTruncated = malformed("no END CERTIFICATE line (truncated?)")
	errAfter     = malformed("END line is not a final END CERTIFICATE line")
	errEmptyBody = malformed("empty PEM body")
	errEndLine   = malformed("END line does not start a line")
	errTwoBlocks = malformed("more than one PEM block")
	errHeaders   = malformed("PEM headers are not allowed")
	errBadBase64 = malformed("bad base64 in the PEM body")
)

// The pieces LeafDER matches, and its scratch buffers for percent-decoding.
var (
	strictBase64  = base64.StdEncoding.Strict()
	pemBegin      = []byte("-----BEGIN ")
	pemBeginCert  = []byte("-----BEGIN CERTIFICATE-----")
	pemEnd        = []byte("-----END ")
	pemEndCert    = []byte("-----END CERTIFICATE-----")
	pemBoundary   = []byte("-----")
	scratchBuffer = sync.Pool{New: func() any { return new([]byte) }}
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// LeafDER decodes Envoy's attributes.source.certificate (the client's leaf
// certificate, PEM, URL-encoded) and returns the certificate's DER bytes.
//
// The input is percent-decoded with url.PathUnescape semantics: "%XX" is a
// byte, every other byte stands for itself, and in particular '+' stays '+'
// (it is a base64 character, which the older Envoy encoding leaves as
// "%2B" and a form decoder would turn into a space). This accepts both
// encodings Envoy has used (see EncodeOld and EncodeNew).
//
// The decoded text must be exactly one PEM block of type CERTIFICATE,
// without PEM headers, optionally surrounded by whitespace (space, tab, CR,
// LF), with a strictly valid base64 body. Empty input yields
// ErrNoCertificate; anything else that does not fit yields an error
// wrapping ErrMalformed. LeafDER does not parse the DER: that is
// x509.ParseCertificate's job.
func LeafDER(encoded string) ([]byte, error) {
	switch {
	case encoded == "":
		return nil, ErrNoCertificate
	case len(encoded) > MaxEncodedLen:
		return nil, errTooLong
	}
	bufp := scratchBuffer.Get().(*[]byte)
	defer scratchBuffer.Put(bufp)
	decoded, ok := pathUnescape((*bufp)[:0], encoded)
	*bufp = decoded[:0]
	if !ok {
		return nil, errEscape
	}
	body, err := certificateBody(decoded)
	if err != nil {
		return nil, err
	}
	return decodeBody(body)
}

// MaxChainLen bounds the certificates ChainDER accepts.
const MaxChainLen = 8

var errChainLen = malformed("more than %d certificates", MaxChainLen)

// ChainDER decodes a URL-encoded PEM chain, leaf first, as Envoy writes
// the Chain of an x-forwarded-client-cert element: one or more
// CERTIFICATE blocks, each as LeafDER accepts one, with only whitespace
// between them. It returns the DER of each, in order (at most
// MaxChainLen). Errors are LeafDER's.
func ChainDER(encoded string) ([][]byte, error) {
	switch {
	case encoded == "":
		return nil, ErrNoCertificate
	case len(encoded) > MaxEncodedLen:
		return nil, errTooLong
	}
	decoded, ok := pathUnescape(make([]byte, 0, len(encoded)), encoded)
	if !ok {
		return nil, errEscape
	}
	var ders [][]byte
	for rest := bytes.TrimLeft(decoded, " \t\r\n"); len(rest) > 0; rest = bytes.TrimLeft(rest, " \t\r\n") {
		if len(ders) == MaxChainLen {
			return nil, errChainLen
		}
		block := rest
		if i := bytes.Index(rest, pemEndCert); i >= 0 {
			block, rest = rest[:i+len(pemEndCert)], rest[i+len(pemEndCert):]
		} else {
			rest = nil
		}
		body, err := certificateBody(block)
		if err != nil {
			return nil, err
		}
		der, err := decodeBody(body)
		if err != nil {
			return nil, err
		}
		ders = append(ders, der)
	}
	if len(ders) == 0 {
		return nil, errBlank
	}
	return ders, nil
}

// decodeBody decodes a certificate body certificateBody returned.
func decodeBody(body []byte) ([]byte, error) {
	der := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := strictBase64.Decode(der, body)
	switch {
	case err != nil:
		return nil, errBadBase64
	case n == 0:
		return nil, errEmptyBody
	}
	return der[:n:n], nil
}

// pathUnescape appends s, percent-decoded like url.PathUnescape, to dst.
// It reports false if a '%' is not followed by two hex digits.
func pathUnescape(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			dst = append(dst, c)
			continue
		}
		if i+2 >= len(s) {
			return dst, false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return dst, false
		}
		dst = append(dst, hi<<4|lo)
		i += 2
	}
	return dst, true
}

// unhex returns the value of the hex digit c.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// certificateBody checks that pem is exactly one headerless CERTIFICATE
// block, give or take surrounding whitespace, and returns its base64 body
// (line breaks included).
func certificateBody(pem []byte) ([]byte, error) {
	b := bytes.Trim(pem, " \t\r\n")
	if err := checkBegin(b); err != nil {
		return nil, err
	}
	rest, ok := cutLineBreak(b[len(pemBeginCert):])
	if !ok {
		return nil, errBeginLine
	}
	body, ok := bytes.CutSuffix(rest, pemEndCert)
	switch {
	case !ok && bytes.Contains(rest, pemEnd):
		return nil, errAfter
	case !ok:
		return nil, errTruncated
	}
	return checkBody(body)
}

// checkBegin checks that b starts with a CERTIFICATE BEGIN line.
func checkBegin(b []byte) error {
	switch {
	case len(b) == 0:
		return errBlank
	case bytes.HasPrefix(b, pemBeginCert):
		return nil
	case bytes.HasPrefix(b, pemBegin):
		return errNotCert
	case bytes.Contains(b, pemBegin):
		return errBefore
	}
	return errNotPEM
}

// cutLineBreak removes the LF or CRLF that b must start with.
func cutLineBreak(b []byte) ([]byte, bool) {
	if rest, ok := bytes.CutPrefix(b, []byte("\n")); ok {
		return rest, true
	}
	return bytes.CutPrefix(b, []byte("\r\n"))
}

// checkBody checks the text between the BEGIN and END lines.
func checkBody(body []byte) ([]byte, error) {
	switch {
	case len(body) == 0:
		return nil, errEmptyBody
	case body[len(body)-1] != '\n':
		return nil, errEndLine
	case bytes.Contains(body, pemBoundary):
		return nil, errTwoBlocks
	case bytes.IndexByte(body, ':') >= 0:
		return nil, errHeaders
	}
	return body, nil
}
