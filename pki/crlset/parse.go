package crlset

import (
	"bytes"
	"hash/maphash"
	"math"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Parse reads one DER CRL (RFC 5280 CertificateList) and keeps only what
// lookups need. It does NOT check the signature: use ParseVerified for CRLs
// that were not authenticated some other way. The returned Set shares no
// memory with der.
//
// Errors wrap ErrMalformed and say which field (and which revokedCertificates
// index) is wrong. Besides DER and structure errors, Parse refuses:
//   - a version other than v2, and extensions in a v1 CRL;
//   - times that are not UTCTime YYMMDDHHMMSSZ or GeneralizedTime
//     YYYYMMDDHHMMSSZ (the RFC 5280 profile; no offsets, no fractions);
//   - inner and outer signature algorithms that differ;
//   - bytes after the CertificateList or inside it after the last field;
//   - with ErrUnsupported too: indirect CRLs (certificateIssuer entry
//     extension or issuingDistributionPoint.indirectCRL), delta CRLs
//     (deltaCRLIndicator), onlySomeReasons and onlyContainsAttributeCerts
//     partitions, unrecognised critical CRL or entry extensions (naming the
//     OID), and serial numbers longer than MaxSerialLen octets.
//
// Entries with a negative serial number are checked but not stored (see Len).
// Non-critical extensions other than those above are ignored, as are the
// entries' revocation dates and reasons: every listed serial is revoked.
func Parse(der []byte) (*Set, error) {
	return parse(der, defaultTuning)
}

// ReadCoverage reads what a CRL covers (Set.Scope and Set.Partition)
// without reading its entries or checking its signature, in time
// independent of the number of entries: for a CRL verified before, such
// as one read back from the store. Its errors are Parse's for the fields
// it reads.
func ReadCoverage(der []byte) (Scope, []string, error) {
	env, err := splitEnvelope(der)
	if err != nil {
		return ScopeAll, nil, err
	}
	set, err := parseTBS(der, env, tuning{mask: ^uint64(0), escape: escape, headerOnly: true})
	if err != nil {
		return ScopeAll, nil, err
	}
	return set.scope, set.partition, nil
}

// tuning holds knobs that tests turn to reach paths real CRLs rarely take.
type tuning struct {
	mask   uint64 // ANDed into every hash, to force collisions
	escape uint64 // groups with a skip or count of this or more go to Set.big; at most escape
	// headerOnly skips the entries: the Set lists no serial (ReadCoverage).
	headerOnly bool
}

var defaultTuning = tuning{mask: ^uint64(0), escape: escape}

// parse is Parse with the tuning as a parameter.
func parse(der []byte, t tuning) (*Set, error) {
	env, err := splitEnvelope(der)
	if err != nil {
		return nil, err
	}
	return parseTBS(der, env, t)
}

// envelope is the outer CertificateList, split into its three fields.
type envelope struct {
	tbs    cryptobyte.String // TBSCertList element, tag and length included
	sigAlg cryptobyte.String // signatureAlgorithm element
	sig    []byte            // signatureValue bits
}

// splitEnvelope checks the outer CertificateList and splits it.
func splitEnvelope(der []byte) (envelope, error) {
	var env envelope
	if uint64(len(der)) > math.MaxUint32 {
		return env, malformed("CRL larger than 4 GiB")
	}
	in := cryptobyte.String(der)
	var outer cryptobyte.String
	if !in.ReadASN1(&outer, asn1.SEQUENCE) {
		return env, malformed("CertificateList: not a DER SEQUENCE, or truncated")
	}
	if !in.Empty() {
		return env, malformed("%d trailing bytes after the CertificateList", len(in))
	}
	if !outer.ReadASN1Element(&env.tbs, asn1.SEQUENCE) {
		return env, malformed("tbsCertList: missing, truncated or not a SEQUENCE")
	}
	if !readAlgorithmIdentifier(&outer, &env.sigAlg) {
		return env, malformed("signatureAlgorithm: missing or not an AlgorithmIdentifier")
	}
	if !outer.ReadASN1BitStringAsBytes(&env.sig) {
		return env, malformed("signatureValue: missing or not an octet-aligned BIT STRING")
	}
	if !outer.Empty() {
		return env, malformed("CertificateList: unexpected data after signatureValue")
	}
	return env, nil
}

// parser holds the state of one parseTBS call.
type parser struct {
	der    []byte // the whole input; record offsets are relative to it
	set    *Set
	v2     bool
	recs   []record // serials of at most inlineLen octets
	long   []record // longer serials (no hash)
	escape uint64   // see tuning
	sorter slotSorter
	// headerOnly: see tuning.
	headerOnly bool
}

// parseTBS parses the TBSCertList of env into a new Set.
func parseTBS(der []byte, env envelope, t tuning) (*Set, error) {
	p := &parser{der: der, set: &Set{seed: maphash.MakeSeed(), mask: t.mask}, escape: t.escape, headerOnly: t.headerOnly}
	body := env.tbs
	if !body.ReadASN1(&body, asn1.SEQUENCE) {
		return nil, malformed("tbsCertList: not a SEQUENCE")
	}
	for _, step := range []func(*cryptobyte.String, envelope) error{
		p.version, p.signature, p.issuer, p.times, p.revoked, p.extensions,
	} {
		if err := step(&body, env); err != nil {
			return nil, err
		}
	}
	if !body.Empty() {
		return nil, malformed("tbsCertList: unexpected field with tag 0x%02x after the last known field", body[0])
	}
	p.build()
	return p.set, nil
}

// version reads the optional version, which must be v2 (1) when present.
func (p *parser) version(body *cryptobyte.String, _ envelope) error {
	if !body.PeekASN1Tag(asn1.INTEGER) {
		return nil // v1
	}
	var v cryptobyte.String
	if !body.ReadASN1(&v, asn1.INTEGER) {
		return malformed("version: truncated INTEGER")
	}
	if string(v) != "\x01" {
		return malformed("version: must be v2 (INTEGER 1), got INTEGER content %x", []byte(v))
	}
	p.v2 = true
	return nil
}

// signature reads the inner signature AlgorithmIdentifier, which must equal
// the outer one.
func (p *parser) signature(body *cryptobyte.String, env envelope) error {
	var alg cryptobyte.String
	if !readAlgorithmIdentifier(body, &alg) {
		return malformed("tbsCertList.signature: missing or not an AlgorithmIdentifier")
	}
	if !bytes.Equal(alg, env.sigAlg) {
		return malformed("tbsCertList.signature differs from the outer signatureAlgorithm")
	}
	return nil
}

// issuer reads the issuer Name and keeps a copy of its DER.
func (p *parser) issuer(body *cryptobyte.String, _ envelope) error {
	var name cryptobyte.String
	if !body.ReadASN1Element(&name, asn1.SEQUENCE) {
		return malformed("issuer: missing or not a SEQUENCE")
	}
	content := name
	if !content.ReadASN1(&content, asn1.SEQUENCE) || !validName(content) {
		return malformed("issuer: not a valid RDNSequence")
	}
	p.set.issuer = bytes.Clone(name)
	return nil
}

// times reads thisUpdate and the optional nextUpdate.
func (p *parser) times(body *cryptobyte.String, _ envelope) error {
	var err error
	if p.set.thisUpdate, err = readTime(body); err != nil {
		return malformed("thisUpdate: %v", err)
	}
	if !body.PeekASN1Tag(asn1.UTCTime) && !body.PeekASN1Tag(asn1.GeneralizedTime) {
		return nil
	}
	if p.set.nextUpdate, err = readTime(body); err != nil {
		return malformed("nextUpdate: %v", err)
	}
	return nil
}
