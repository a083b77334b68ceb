package pki

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/mtlsgate/mtlsgate/pki/crlset"
)

// VerifiedCRL is a CRL whose signature was verified with one of the
// candidate issuer certificates, parsed by crlset as the ext_authz server
// loads it.
type VerifiedCRL struct {
	// DER is the CRL, the PEM armour removed. It may share memory with
	// the input.
	DER []byte
	// Set holds the CRL's facts (times, number, entry count) and serials.
	Set *crlset.Set
	// Issuer is the candidate that signed the CRL.
	Issuer *x509.Certificate
}

// ParseVerifiedCRL parses one CRL with the input rules and errors of
// ParseCRL, finds its issuer among candidates like CRLIssuer, and parses it
// with crlset.ParseVerified: the parser of the ext_authz server, so a CRL is
// accepted exactly when the server can use it. crlset walks the DER once and
// keeps only the serials (a million-entry CRL allocates about 60 MB, against
// about 1 GB for ParseCRL).
//
// The issuer is a candidate whose RawSubject equals the CRL's issuer Name
// and whose key verifies the signature; it must be a CA and, when it has a
// keyUsage extension, allowed to sign CRLs (the rules of
// x509.RevocationList.CheckSignatureFrom). Candidates are tried in order;
// one that does not verify costs a signature check, not a parse.
//
// Errors: ErrEmpty, ErrPrivateKey and ErrMalformed as in ParseCRL; a CRL
// crlset refuses is ErrMalformed and also wraps the crlset error
// (crlset.ErrMalformed, with crlset.ErrUnsupported for delta, indirect and
// other CRLs the server cannot use). ErrCRLIssuer, with the messages of
// CRLIssuer, when the CRL is well formed but no candidate signed it.
func ParseVerifiedCRL(data []byte, candidates []*x509.Certificate) (*VerifiedCRL, error) {
	h, where, err := decodeCRL(data, readCRLHeader)
	if err != nil {
		return nil, err
	}
	matched := 0
	var lastErr error
	for _, c := range candidates {
		if c == nil || !bytes.Equal(c.RawSubject, h.issuer) {
			continue
		}
		matched++
		set, err := crlset.ParseVerified(h.der, c)
		if err == nil {
			return &VerifiedCRL{DER: h.der, Set: set, Issuer: c}, nil
		}
		if errors.Is(err, crlset.ErrMalformed) {
			return nil, notCRL(where, err) // the CRL's fault, whoever signed it
		}
		// crlset wraps the crypto/x509 error in a sentence of its own
		// that repeats the issuer: keep only the cause.
		lastErr = err
		if cause := errors.Unwrap(err); cause != nil {
			lastErr = cause
		}
	}
	// Report a CRL the server could not use as such, whoever signed it,
	// as ParseCRL followed by CRLIssuer did. This parse only runs for a
	// refused upload.
	if _, err := crlset.Parse(h.der); err != nil {
		return nil, notCRL(where, err)
	}
	return nil, issuerError(issuerDN(h.issuer), matched, lastErr)
}

// issuerError is the ErrCRLIssuer error of CRLIssuer and ParseVerifiedCRL:
// matched candidates had the issuer's name, and the last one failed with
// sigErr.
func issuerError(issuer string, matched int, sigErr error) error {
	if matched == 0 {
		return errorf(ErrCRLIssuer, "CRL issuer %s is not an uploaded CA", issuer)
	}
	return errorf(ErrCRLIssuer, "CRL signature does not verify with the key of issuer %s (%d uploaded CA certificate(s) with that subject): %v", issuer, matched, sigErr)
}

// crlHeader is what ParseVerifiedCRL reads of a DER CRL before it knows the
// issuer: enough to pick candidates, nothing proportional to the entries.
type crlHeader struct {
	der    []byte // the whole CRL
	issuer []byte // the issuer Name element, comparable with RawSubject
}

// readCRLHeader reads a DER CertificateList up to its issuer Name. When that
// fails, the error is crlset's, which stops at the same place, so that the
// message is the one the ext_authz server would give.
func readCRLHeader(der []byte) (crlHeader, error) {
	if issuer, ok := crlIssuerName(der); ok {
		return crlHeader{der: der, issuer: issuer}, nil
	}
	_, err := crlset.Parse(der)
	if err == nil { // crlset reads everything crlIssuerName does, and more
		err = errors.New("CRL header is not readable")
	}
	return crlHeader{}, err
}

// crlIssuerName returns the issuer Name element of a DER CertificateList
// without trailing bytes: the outer SEQUENCE, then the tbsCertList's optional
// version, its signature AlgorithmIdentifier and the Name.
func crlIssuerName(der []byte) ([]byte, bool) {
	in := cryptobyte.String(der)
	var list, tbs, issuer cryptobyte.String
	ok := in.ReadASN1(&list, cbasn1.SEQUENCE) && in.Empty() &&
		list.ReadASN1(&tbs, cbasn1.SEQUENCE) &&
		tbs.SkipOptionalASN1(cbasn1.INTEGER) &&
		tbs.SkipASN1(cbasn1.SEQUENCE) &&
		tbs.ReadASN1Element(&issuer, cbasn1.SEQUENCE)
	return issuer, ok
}

// issuerDN renders a DER Name for error messages as dn does.
func issuerDN(raw []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) > 0 {
		return "(unparsable DN)"
	}
	var n pkix.Name
	n.FillFromRDNSequence(&seq)
	return dn(n)
}
