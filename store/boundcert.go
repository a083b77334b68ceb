package store

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/mtlsgate/mtlsgate/pki"
)

// parseBoundCertificate reads the one certificate of data: PEM, DER, or
// a PKCS#12 file (opened with password), whose one certificate that is not
// a CA is taken. A PKCS#12 file's keys are never decrypted, and every key
// derivation its certificates need is bounded before it runs
// (pki.PKCS12Certificates).
func parseBoundCertificate(data []byte, password string, maxBytes int) (*x509.Certificate, error) {
	if len(data) > maxBytes {
		return nil, fmt.Errorf("%w: certificate is %d bytes, more than the %d-byte cap", ErrLimit, len(data), maxBytes)
	}
	certs, perr := pki.ParseCertificates(data)
	if perr == nil {
		if len(certs) != 1 {
			return nil, invalid("certificate", "holds %d certificates: bind one at a time", len(certs))
		}
		return certs[0], nil
	}
	if len(data) == 0 || data[0] != 0x30 {
		return nil, invalid("certificate", "%w", perr)
	}
	certs, err := pki.PKCS12Certificates(data, password)
	if errors.Is(err, pki.ErrPKCS12Password) {
		return nil, invalid("pkcs12_password", "%w", err)
	}
	if err == nil {
		var leaf *x509.Certificate
		if leaf, err = pki.PKCS12Leaf(certs); err == nil {
			return leaf, nil
		}
	}
	return nil, invalid("certificate", "neither a certificate (%v) nor a PKCS#12 file (%w)", perr, err)
}

// SelfSigned reports whether c names itself as issuer and its signature
// verifies with its own key. (x509's CheckSignatureFrom would refuse a
// parent that is not a CA: a PKI-less client certificate is not one.)
func SelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
