package issuing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
)

// Bounds of a CSR.
const (
	// MaxCSRBytes bounds a PEM CSR (a 16384-bit RSA request is under 6
	// KiB; callers may bound it further with limits.max_object_bytes).
	MaxCSRBytes = 32 << 10
	minRSABits  = 2048
	maxRSABits  = 8192
)

// ParseCSR checks a PKCS#10 request in PEM (one CERTIFICATE REQUEST block,
// nothing after it, at most min(MaxCSRBytes, max) bytes when max > 0, its
// signature verified with its own key) and returns its public key, the only
// thing of it that is used: an RSA key of 2048 to 8192 bits, an ECDSA key
// on P-256 or P-384, or an Ed25519 key. Every error wraps ErrInvalid.
func ParseCSR(data []byte, max int) (crypto.PublicKey, error) {
	limit := MaxCSRBytes
	if max > 0 && max < limit {
		limit = max
	}
	if len(data) > limit {
		return nil, invalidf("is %d bytes, more than %d", len(data), limit)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, invalidf("not a PEM CERTIFICATE REQUEST")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, invalidf("data after the request")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, invalidf("signature does not verify: %v", err)
	}
	if err := checkKey(csr.PublicKey); err != nil {
		return nil, err
	}
	return csr.PublicKey, nil
}

// checkKey accepts the public keys a client certificate may carry.
func checkKey(k crypto.PublicKey) error {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits || n > maxRSABits {
			return invalidf("RSA key of %d bits (want %d to %d)", n, minRSABits, maxRSABits)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return invalidf("ECDSA curve %s (want P-256 or P-384)", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return invalidf("%T keys are not accepted (want RSA, ECDSA P-256/P-384 or Ed25519)", k)
	}
	return nil
}
