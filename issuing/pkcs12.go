package issuing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"strings"
	"unicode"

	"software.sslmate.com/src/go-pkcs12"
)

// Bounds of a PKCS#12 password.
const (
	// MaxPasswordBytes bounds a password the caller chooses.
	MaxPasswordBytes = 128
	// generatedPasswordBytes is the entropy of a password picked by
	// RandomPassword (128 bits).
	generatedPasswordBytes = 16
)

// NewKey makes an ECDSA P-256 key for a certificate requested without a
// CSR.
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issuing: new key: %w", err)
	}
	return k, nil
}

// CheckPassword validates a PKCS#12 password a caller chose: at most
// MaxPasswordBytes of printable characters ("" is not checked: one is
// picked).
func CheckPassword(p string) error {
	switch {
	case len(p) > MaxPasswordBytes:
		return invalidf("is longer than %d bytes", MaxPasswordBytes)
	case strings.IndexFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return invalidf("contains a control character")
	}
	return nil
}

// RandomPassword returns a password of 128 random bits, as 26 characters
// of lowercase base32 (easy to type on a device).
func RandomPassword() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [generatedPasswordBytes]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	var sb strings.Builder
	acc, bits := 0, 0
	for _, c := range b {
		acc, bits = acc<<8|int(c), bits+8
		for bits >= 5 {
			bits -= 5
			sb.WriteByte(alphabet[acc>>bits&31])
		}
	}
	if bits > 0 {
		sb.WriteByte(alphabet[acc<<(5-bits)&31])
	}
	return sb.String()
}

// PKCS12 packs key, its certificate and the CA certificate into a
// PKCS#12 file encrypted with password (go-pkcs12's Modern encoder:
// AES-256-CBC with PBKDF2, a SHA-256 MAC), the form browsers, operating
// systems and devices import.
func PKCS12(key crypto.Signer, cert, ca *x509.Certificate, password string) ([]byte, error) {
	out, err := pkcs12.Modern.Encode(key, cert, []*x509.Certificate{ca}, password)
	if err != nil {
		return nil, fmt.Errorf("issuing: PKCS#12: %w", err)
	}
	return out, nil
}
