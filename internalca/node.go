package internalca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/mtlsgate/mtlsgate/nodeid"
)

// MaxCSRBytes bounds a certificate signing request. A P-256 CSR is about
// 400 bytes and a 4096-bit RSA one about 1.7 KB.
const MaxCSRBytes = 16 << 10

// ErrBadCSR is wrapped by every error about a signing request.
var ErrBadCSR = errors.New("bad certificate signing request")

// ParseCSR reads one PEM CERTIFICATE REQUEST, checks its self-signature and
// that its key is one Envoy can use (ECDSA P-256 or P-384, RSA 2048 to
// 4096 bits). The names it asks for are ignored by SignNode.
func ParseCSR(b []byte) (*x509.CertificateRequest, error) {
	if len(b) > MaxCSRBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadCSR, len(b), MaxCSRBytes)
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: not a PEM CERTIFICATE REQUEST", ErrBadCSR)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the request", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrBadCSR, err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("%w: ECDSA curve %s (want P-256 or P-384)", ErrBadCSR, k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 || n > 4096 {
			return nil, fmt.Errorf("%w: RSA key of %d bits (want 2048 to 4096)", ErrBadCSR, n)
		}
	default:
		return nil, fmt.Errorf("%w: %T keys are not supported (want ECDSA P-256/P-384 or RSA)", ErrBadCSR, csr.PublicKey)
	}
	return csr, nil
}

// SignNode issues a client certificate naming id to the key of csr, valid
// from now for lifetime (capped at the CA's own expiry).
func (a *Authority) SignNode(csr *x509.CertificateRequest, id nodeid.Identity, now time.Time, lifetime time.Duration) (*x509.Certificate, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if lifetime <= 0 {
		return nil, fmt.Errorf("internalca: lifetime %s is not positive", lifetime)
	}
	u, err := url.Parse(id.URI())
	if err != nil {
		return nil, fmt.Errorf("internalca: %w", err)
	}
	return a.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: id.Node, OrganizationalUnit: []string{id.Fleet}, Organization: []string{"mtlsgate node"}},
		NotBefore:   now.Add(-backdate),
		NotAfter:    now.Add(lifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{u},
	}, csr.PublicKey)
}
