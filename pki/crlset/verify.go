package crlset

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// ParseVerified checks that der is a CRL signed by issuer and then parses it
// like Parse. The signature is verified over the raw TBSCertList before any
// entry is parsed, with the same rules as x509.RevocationList.CheckSignatureFrom
// (issuer must be a CA allowed to sign CRLs; SHA-1 and MD5 are refused), and
// the CRL's issuer Name must equal issuer.RawSubject byte for byte.
//
// Verifying here rather than offering Set.CheckSignatureFrom means the Set
// never keeps the DER or the TBSCertList (tens of MB for a large CRL) just for
// a later signature check. Structural errors wrap ErrMalformed; signature
// errors wrap the crypto/x509 error.
func ParseVerified(der []byte, issuer *x509.Certificate) (*Set, error) {
	if issuer == nil {
		return nil, errors.New("crlset: ParseVerified: nil issuer certificate")
	}
	env, err := splitEnvelope(der)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(env, issuer); err != nil {
		return nil, err
	}
	s, err := parseTBS(der, env, defaultTuning)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(s.issuer, issuer.RawSubject) {
		return nil, errors.New("crlset: the CRL's issuer Name differs from the subject of the certificate that signed it")
	}
	return s, nil
}

// verifySignature checks env's signature with issuer's public key.
func verifySignature(env envelope, issuer *x509.Certificate) error {
	alg, err := signatureAlgorithm(env.sigAlg)
	if err != nil {
		return err
	}
	rl := &x509.RevocationList{
		RawTBSRevocationList: env.tbs,
		Signature:            env.sig,
		SignatureAlgorithm:   alg,
	}
	if err := rl.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("crlset: CRL signature does not verify with the key of %q: %w", issuer.Subject, err)
	}
	return nil
}

// signatureAlgorithm maps an AlgorithmIdentifier element to crypto/x509's
// SignatureAlgorithm. crypto/x509 does not export that mapping (which also
// validates RSA-PSS parameters), so we let it parse a CRL stub made of the
// identifier, an empty issuer and no entries: a few hundred bytes, whatever
// the size of the real CRL.
func signatureAlgorithm(algElem []byte) (x509.SignatureAlgorithm, error) {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(1)
			b.AddBytes(algElem)
			b.AddASN1(asn1.SEQUENCE, func(*cryptobyte.Builder) {})
			b.AddASN1UTCTime(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
		})
		b.AddBytes(algElem)
		b.AddASN1BitString(nil)
	})
	stub, err := b.Bytes()
	if err != nil {
		return x509.UnknownSignatureAlgorithm, malformed("signatureAlgorithm: %v", err)
	}
	rl, err := x509.ParseRevocationList(stub)
	if err != nil {
		return x509.UnknownSignatureAlgorithm, malformed("signatureAlgorithm: %v", err)
	}
	if rl.SignatureAlgorithm == x509.UnknownSignatureAlgorithm {
		return x509.UnknownSignatureAlgorithm, fmt.Errorf("crlset: CRL signature algorithm: %w", x509.ErrUnsupportedAlgorithm)
	}
	return rl.SignatureAlgorithm, nil
}
