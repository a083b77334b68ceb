package pki

import (
	"bytes"
	"crypto/x509"
	"fmt"
)

// pemTypeCRL is the only PEM block type accepted for CRLs.
const pemTypeCRL = "X509 CRL"

// ParseCRL parses one certificate revocation list, either DER or PEM with
// exactly one "X509 CRL" block (text around the block is tolerated as in
// ParseCertificates).
//
// Errors: ErrEmpty for empty input; ErrPrivateKey when the input is or
// contains a private key; ErrMalformed for everything else, including
// trailing bytes after a DER CRL, several PEM blocks and other block types.
// The CRL's signature is not checked here: see CRLIssuer.
func ParseCRL(data []byte) (*x509.RevocationList, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errorf(ErrEmpty, "no CRL data")
	}
	derLike := data[0] == 0x30 // ASN.1 SEQUENCE
	var derErr error
	if derLike {
		crl, err := parseCRLDER(data)
		if err == nil {
			return crl, nil
		}
		derErr = err
	}
	if !isPEM(data) {
		if derLike && isDERPrivateKey(data) {
			return nil, errorf(ErrPrivateKey, "input is a DER-encoded private key, expected a CRL")
		}
		if derLike {
			return nil, errorf(ErrMalformed, "DER input is not a valid CRL: %v", derErr)
		}
		return nil, errorf(ErrMalformed, "input is neither PEM nor a DER CRL")
	}
	if n, t := findPrivateKeyBlock(data); n > 0 {
		return nil, errorf(ErrPrivateKey, "PEM block #%d is a private key (%s), expected an X509 CRL", n, quote(t))
	}
	blocks, err := scanPEM(data)
	if err != nil {
		return nil, err
	}
	for i, b := range blocks {
		if b.Type != pemTypeCRL {
			return nil, errorf(ErrMalformed, "PEM block #%d has type %s, expected X509 CRL", i+1, quote(b.Type))
		}
	}
	if len(blocks) != 1 {
		return nil, errorf(ErrMalformed, "found %d X509 CRL PEM blocks, expected exactly one", len(blocks))
	}
	b := blocks[0]
	if len(b.Headers) > 0 {
		return nil, errorf(ErrMalformed, "PEM block #1 (X509 CRL) has headers, which are not allowed")
	}
	crl, err := parseCRLDER(b.Bytes)
	if err != nil {
		return nil, errorf(ErrMalformed, "PEM block #1 is not a valid CRL: %v", err)
	}
	return crl, nil
}

// parseCRLDER parses a DER CRL, refusing trailing bytes (which
// x509.ParseRevocationList silently ignores).
func parseCRLDER(der []byte) (*x509.RevocationList, error) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, err
	}
	if len(crl.Raw) != len(der) {
		return nil, fmt.Errorf("%d bytes of trailing data after the CRL", len(der)-len(crl.Raw))
	}
	return crl, nil
}

// CRLIssuer returns the candidate that issued crl: its RawSubject equals
// crl.RawIssuer and its public key verifies the CRL's signature
// (crl.CheckSignatureFrom, which also requires a CA and, when keyUsage is
// present, cRLSign). Candidates are tried in order; several may share the
// subject (re-keyed CAs).
//
// Errors (ErrCRLIssuer): "signature does not verify" when candidates match
// the issuer name but none verifies the signature; "issuer <DN> is not an
// uploaded CA" when no candidate has the issuer's name.
func CRLIssuer(crl *x509.RevocationList, candidates []*x509.Certificate) (*x509.Certificate, error) {
	if crl == nil {
		return nil, errorf(ErrEmpty, "no CRL")
	}
	matched := 0
	var lastErr error
	for _, c := range candidates {
		if c == nil || !bytes.Equal(c.RawSubject, crl.RawIssuer) {
			continue
		}
		matched++
		if err := crl.CheckSignatureFrom(c); err != nil {
			lastErr = err
			continue
		}
		return c, nil
	}
	if matched > 0 {
		return nil, errorf(ErrCRLIssuer, "CRL signature does not verify with the key of issuer %s (%d uploaded CA certificate(s) with that subject): %v", dn(crl.Issuer), matched, lastErr)
	}
	return nil, errorf(ErrCRLIssuer, "CRL issuer %s is not an uploaded CA", dn(crl.Issuer))
}
