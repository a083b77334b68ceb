package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"strconv"
	"strings"
)

var (
	pemBeginMarker = []byte("-----BEGIN")
	pemEndMarker   = []byte("-----END")
)

// isPEM reports whether data looks like PEM, i.e. contains a BEGIN marker.
func isPEM(data []byte) bool {
	return bytes.Contains(data, pemBeginMarker)
}

// isPrivateKeyType reports whether a PEM block type names a private key
// ("PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
// "OPENSSH PRIVATE KEY", ...).
func isPrivateKeyType(t string) bool {
	return strings.Contains(strings.ToUpper(t), "PRIVATE KEY")
}

// beginType returns the type named on the BEGIN line that b starts with,
// whether or not the line is well formed.
func beginType(b []byte) string {
	line := b
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimPrefix(line, pemBeginMarker)
	line = bytes.TrimSpace(line)
	line = bytes.TrimSuffix(line, []byte("-----"))
	return strings.ToValidUTF8(string(bytes.TrimSpace(line)), "?")
}

// findPrivateKeyBlock looks at every BEGIN line of data, decodable or not,
// and returns the 1-based number and type of the first one naming a private
// key, or 0.
func findPrivateKeyBlock(data []byte) (int, string) {
	n := 0
	for rest := data; ; {
		i := bytes.Index(rest, pemBeginMarker)
		if i < 0 {
			return 0, ""
		}
		n++
		if t := beginType(rest[i:]); isPrivateKeyType(t) {
			return n, t
		}
		rest = rest[i+len(pemBeginMarker):]
	}
}

// scanPEM decodes every PEM block of data, in order. Text outside blocks
// (such as the "subject=" lines openssl prints) is allowed as long as it
// contains no BEGIN or END marker. A BEGIN line must start a line, and every
// block must decode (matching END line, valid base64); otherwise scanPEM
// returns an ErrMalformed error together with the blocks decoded so far.
func scanPEM(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		i := bytes.Index(rest, pemBeginMarker)
		text := rest
		if i >= 0 {
			text = rest[:i]
		}
		if bytes.Contains(text, pemEndMarker) {
			where := "before PEM block #1"
			if len(blocks) > 0 {
				where = "after PEM block #" + strconv.Itoa(len(blocks))
			}
			return blocks, errorf(ErrMalformed, "found an END line without a matching BEGIN line %s", where)
		}
		if i < 0 {
			return blocks, nil
		}
		n := len(blocks) + 1
		typ := beginType(rest[i:])
		if i > 0 && rest[i-1] != '\n' {
			return blocks, errorf(ErrMalformed, "the BEGIN line of PEM block #%d (%s) does not start at the beginning of a line", n, quote(typ))
		}
		block, after := pem.Decode(rest[i:])
		// pem.Decode silently skips blocks it cannot decode; refuse that.
		if block == nil || bytes.Contains(rest[i+1:len(rest)-len(after)], pemBeginMarker) {
			return blocks, errorf(ErrMalformed, "PEM block #%d (%s) is truncated or garbled (missing or mismatched END line, or invalid base64)", n, quote(typ))
		}
		blocks = append(blocks, block)
		rest = after
	}
}

// isDERPrivateKey reports whether der parses as a PKCS#8, PKCS#1 or SEC1
// private key.
func isDERPrivateKey(der []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParseECPrivateKey(der); err == nil {
		return true
	}
	return false
}
