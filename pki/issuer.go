package pki

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
)

// IssuerKey identifies a CA as an issuer of certificates and CRLs: its
// subject Name (DER, exactly as encoded) and its public key (lowercase hex
// SHA-256 of the SubjectPublicKeyInfo). Every certificate of one CA —
// renewed, re-issued, cross-signed by another CA, listed in several
// bundles — has the same IssuerKey, so revocation data keyed by it applies
// to all of them. It is comparable, for use as a map key.
type IssuerKey struct {
	// Name is the raw DER subject Name, as a string.
	Name string
	// SPKI is the lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
	SPKI string
}

// IssuerKeyOf returns the identity of c as an issuer.
func IssuerKeyOf(c *x509.Certificate) IssuerKey {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return IssuerKey{Name: string(c.RawSubject), SPKI: hex.EncodeToString(sum[:])}
}

// IsZero reports an unset key.
func (k IssuerKey) IsZero() bool { return k.Name == "" && k.SPKI == "" }

// String renders k for messages: the RFC 4514 name and a short key hash.
func (k IssuerKey) String() string {
	spki := k.SPKI
	if len(spki) > 16 {
		spki = spki[:16]
	}
	return issuerDN([]byte(k.Name)) + " (key sha256:" + spki + "…)"
}

// SameEntity reports whether a and b are the same CA as far as a chain is
// concerned: same subject and same key, as crypto/x509 decides when it
// refuses to revisit a certificate. Re-issued and cross-signed copies of a
// CA are the same entity, so cross-signing loops end.
func SameEntity(a, b *x509.Certificate) bool {
	if !bytes.Equal(a.RawSubject, b.RawSubject) {
		return false
	}
	k, ok := a.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b.PublicKey)
}

// SelfSigned reports whether c is self-issued and its own key verifies its
// signature: a root, or a renewed or re-issued root.
func SelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// CRLIssuerName returns the issuer Name element of a DER CRL (comparable
// with a certificate's RawSubject), reading only the CRL's header.
func CRLIssuerName(der []byte) ([]byte, bool) { return crlIssuerName(der) }
