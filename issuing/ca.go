// Package issuing is the certificate work of the account's issuing CA,
// without any storage: it makes the CA, issues client certificates to
// identities (from a checked CSR's public key or from a key it makes),
// packs a new key as PKCS#12, and signs the CA's CRL. The store keeps the
// records (store/issuing.go); this package only computes.
package issuing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"
)

// Defaults and bounds of the CA and of the certificates it issues.
const (
	// DefaultCAName is the CA's subject CN when the request names none.
	DefaultCAName = "mtlsgate client CA"
	// DefaultCADays is the CA's lifetime when the request gives none.
	DefaultCADays = 3650
	// MaxCADays bounds the CA's lifetime (30 years).
	MaxCADays = 10950
	// DefaultDays is an issued certificate's lifetime when the request
	// gives none.
	DefaultDays = 90
	// MaxDays bounds an issued certificate's lifetime (10 years; it never
	// outlives the CA either).
	MaxDays = 3650
	// MaxCANameBytes bounds the CA's common name.
	MaxCANameBytes = 64 // RFC 5280's upper bound of a commonName
	// backdate is how far before now a certificate starts, for clocks
	// of relying parties that are slightly behind.
	backdate = time.Minute
)

// ErrInvalid is wrapped by every error about a caller's input (a name, a
// number of days, a CSR, a password).
var ErrInvalid = errors.New("invalid")

// ErrExpired: the issuing CA can issue no more (its certificate expired).
var ErrExpired = errors.New("issuing CA expired")

// invalidf builds an ErrInvalid error.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// CA is a loaded issuing CA: its certificate and key.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM string
}

// CheckCAName validates a CA common name ("" stands for DefaultCAName).
func CheckCAName(cn string) error {
	switch {
	case len(cn) > MaxCANameBytes:
		return invalidf("is longer than %d bytes", MaxCANameBytes)
	case strings.TrimSpace(cn) != cn:
		return invalidf("has leading or trailing spaces")
	case strings.IndexFunc(cn, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return invalidf("contains a control character")
	}
	return nil
}

// lifetime turns a requested number of days into a duration: 0 is def,
// anything outside 1..max is refused.
func lifetime(days, def, max int) (time.Duration, error) {
	switch {
	case days == 0:
		days = def
	case days < 0 || days > max:
		return 0, invalidf("%d is not between 1 and %d", days, max)
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

// NewCA makes a CA: a new ECDSA P-256 key and a self-signed certificate
// (CA:TRUE, pathlen 0, keyCertSign and cRLSign) named cn (default
// DefaultCAName), valid from now for days (default DefaultCADays). It
// returns the CA with its key as PKCS#8 PEM.
func NewCA(cn string, days int, now time.Time) (*CA, string, error) {
	if err := CheckCAName(cn); err != nil {
		return nil, "", fmt.Errorf("common_name: %w", err)
	}
	if cn == "" {
		cn = DefaultCAName
	}
	life, err := lifetime(days, DefaultCADays, MaxCADays)
	if err != nil {
		return nil, "", fmt.Errorf("days: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("issuing: CA key: %w", err)
	}
	serial, err := RandomSerial()
	if err != nil {
		return nil, "", err
	}
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(life),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		return nil, "", fmt.Errorf("issuing: sign CA certificate: %w", err)
	}
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return nil, "", err
	}
	ca, err := LoadCA(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), keyPEM)
	return ca, keyPEM, err
}

// LoadCA parses a CA's certificate and PKCS#8 key, as stored, and checks
// that they belong together.
func LoadCA(certPEM, keyPEM string) (*CA, error) {
	cb, _ := pem.Decode([]byte(certPEM))
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("issuing: CA certificate: not a PEM CERTIFICATE")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("issuing: CA certificate: %w", err)
	}
	kb, _ := pem.Decode([]byte(keyPEM))
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, errors.New("issuing: CA key: not a PEM PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("issuing: CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("issuing: CA key: %T cannot sign", k)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("issuing: CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: signer, CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))}, nil
}

// KeyPEM encodes key as PKCS#8 PEM.
func KeyPEM(key crypto.Signer) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("issuing: encode key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// RandomSerial returns a random positive serial of 128 bits at most
// (16 octets, within RFC 5280's 20).
func RandomSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
		if err != nil {
			return nil, fmt.Errorf("issuing: serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
