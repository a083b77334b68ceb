package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/mtlsgate/mtlsgate/pki/crlset"
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
//
// ParseCRL uses crypto/x509, which keeps every entry in memory (about 1 GB
// allocated for a million entries): uploads are checked with
// ParseVerifiedCRL instead.
func ParseCRL(data []byte) (*x509.RevocationList, error) {
	crl, _, err := decodeCRL(data, parseCRLDER)
	return crl, err
}

// Where decodeCRL found the CRL, as error messages name it.
const (
	crlFromDER = "DER input"
	crlFromPEM = "PEM block #1"
)

// decodeCRL finds the one CRL of data, DER or PEM (the input rules of
// ParseCRL), and returns what parse makes of its DER, with where it was
// found (crlFromDER or crlFromPEM). parse fails for DER that is not a CRL;
// its error is wrapped. Input starting like DER is tried as DER first.
func decodeCRL[T any](data []byte, parse func(der []byte) (T, error)) (T, string, error) {
	var zero T
	if len(bytes.TrimSpace(data)) == 0 {
		return zero, "", errorf(ErrEmpty, "no CRL data")
	}
	derLike := data[0] == 0x30 // ASN.1 SEQUENCE
	var derErr error
	if derLike {
		v, err := parse(data)
		if err == nil {
			return v, crlFromDER, nil
		}
		derErr = err
	}
	if !isPEM(data) {
		if derLike && isDERPrivateKey(data) {
			return zero, "", errorf(ErrPrivateKey, "input is a DER-encoded private key, expected a CRL")
		}
		if derLike {
			return zero, "", notCRL(crlFromDER, derErr)
		}
		return zero, "", errorf(ErrMalformed, "input is neither PEM nor a DER CRL")
	}
	der, err := crlPEMBlock(data)
	if err != nil {
		return zero, "", err
	}
	v, err := parse(der)
	if err != nil {
		return zero, "", notCRL(crlFromPEM, err)
	}
	return v, crlFromPEM, nil
}

// crlPEMBlock returns the bytes of the one "X509 CRL" block of PEM data,
// refusing private keys, other block types, several blocks and headers.
func crlPEMBlock(data []byte) ([]byte, error) {
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
	if len(blocks[0].Headers) > 0 {
		return nil, errorf(ErrMalformed, "PEM block #1 (X509 CRL) has headers, which are not allowed")
	}
	return blocks[0].Bytes, nil
}

// notCRL is the ErrMalformed error for the DER found at where that is not a
// CRL mtlsgate can use. It also wraps err, so that callers can tell
// crlset.ErrUnsupported (a valid CRL using a feature the ext_authz server
// does not implement) from other crlset.ErrMalformed errors.
func notCRL(where string, err error) error {
	if errors.Is(err, crlset.ErrUnsupported) {
		return fmt.Errorf("%w: %s is a CRL mtlsgate cannot use: %w", ErrMalformed, where, err)
	}
	return fmt.Errorf("%w: %s is not a valid CRL: %w", ErrMalformed, where, err)
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
	return nil, issuerError(dn(crl.Issuer), matched, lastErr)
}
