package crlset

import (
	"slices"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// extensions reads the optional crlExtensions [0] EXPLICIT Extensions.
func (p *parser) extensions(body *cryptobyte.String, _ envelope) error {
	if !body.PeekASN1Tag(tagExplicit0) {
		return nil
	}
	var wrapper, exts cryptobyte.String
	if !body.ReadASN1(&wrapper, tagExplicit0) || !wrapper.ReadASN1(&exts, asn1.SEQUENCE) || !wrapper.Empty() {
		return malformed("crlExtensions: not a [0] EXPLICIT SEQUENCE, or truncated")
	}
	if !p.v2 {
		return malformed("crlExtensions: present in a v1 CRL")
	}
	var seen []string
	for j := 0; !exts.Empty(); j++ {
		x, ok := readExtension(&exts)
		if !ok {
			return malformed("crlExtensions[%d]: not a valid Extension", j)
		}
		if slices.Contains(seen, string(x.oid)) {
			return malformed("crlExtensions[%d]: duplicate extension %s", j, oidString(x.oid))
		}
		seen = append(seen, string(x.oid))
		if err := p.crlExtension(x); err != nil {
			return err
		}
	}
	return nil
}

// crlExtension acts on one CRL extension.
func (p *parser) crlExtension(x extension) error {
	switch string(x.oid) {
	case oidDeltaCRLIndicator:
		return unsupported("delta CRLs are not supported (deltaCRLIndicator extension)")
	case oidIssuingDistPoint:
		return p.parseIssuingDistributionPoint(x.value)
	case oidCRLNumber:
		return p.crlNumber(x.value)
	case oidAuthorityKeyID, oidIssuerAltName:
		return nil
	}
	if x.critical {
		return unsupported("unrecognised critical CRL extension %s", oidString(x.oid))
	}
	return nil
}

// maxCRLNumberLen is the longest cRLNumber RFC 5280 (5.2.3) allows, in octets.
const maxCRLNumberLen = 20

// crlNumber reads the cRLNumber extension value, CRLNumber ::= INTEGER
// (0..MAX), of at most 20 octets.
func (p *parser) crlNumber(v cryptobyte.String) error {
	var n cryptobyte.String
	if !v.ReadASN1(&n, asn1.INTEGER) || !v.Empty() {
		return malformed("cRLNumber: not a single INTEGER")
	}
	mag, negative, err := integerMagnitude(n)
	switch {
	case err != nil:
		return malformed("cRLNumber: %v", err)
	case negative:
		return malformed("cRLNumber: negative")
	case len(mag) > maxCRLNumberLen:
		return malformed("cRLNumber: %d octets, more than the %d RFC 5280 allows", len(mag), maxCRLNumberLen)
	}
	p.set.number = append([]byte{}, mag...)
	return nil
}

// parseIssuingDistributionPoint reads the extension value
//
//	IssuingDistributionPoint ::= SEQUENCE {
//	     distributionPoint          [0] DistributionPointName OPTIONAL,
//	     onlyContainsUserCerts      [1] BOOLEAN DEFAULT FALSE,
//	     onlyContainsCACerts        [2] BOOLEAN DEFAULT FALSE,
//	     onlySomeReasons            [3] ReasonFlags OPTIONAL,
//	     indirectCRL                [4] BOOLEAN DEFAULT FALSE,
//	     onlyContainsAttributeCerts [5] BOOLEAN DEFAULT FALSE }
//
// into the CRL's scope and partition. A distributionPoint names the
// partition: the CRL covers only the certificates whose
// cRLDistributionPoints name it (RFC 5280 6.3.3 (b)(2)(i)); see Covers.
func (p *parser) parseIssuingDistributionPoint(v cryptobyte.String) error {
	var idp cryptobyte.String
	if !v.ReadASN1(&idp, asn1.SEQUENCE) || !v.Empty() {
		return malformed("issuingDistributionPoint: not a valid IssuingDistributionPoint")
	}
	partition, err := readPartition(&idp)
	if err != nil {
		return err
	}
	scope, err := readScope(&idp)
	p.set.scope, p.set.partition = scope, partition
	return err
}

// readPartition reads the optional distributionPoint [0] of an
// IssuingDistributionPoint,
//
//	DistributionPointName ::= CHOICE {
//	     fullName                [0] GeneralNames,
//	     nameRelativeToCRLIssuer [1] RelativeDistinguishedName }
//
// and returns the URIs of its fullName (scheme and host in lower case:
// canonicalURI), sorted, without duplicates; nil
// when the CRL names no distribution point. Certificates name their CRLs by
// URI (crypto/x509 exposes no other kind), so a fullName without one, or a
// name relative to the issuer, could never be matched and is refused.
func readPartition(idp *cryptobyte.String) ([]string, error) {
	var dp cryptobyte.String
	var present bool
	if !idp.ReadOptionalASN1(&dp, &present, tagExplicit0) {
		return nil, malformed("issuingDistributionPoint.distributionPoint: truncated")
	}
	if !present {
		return nil, nil
	}
	if dp.PeekASN1Tag(tagConstructed1) {
		return nil, unsupported("distribution points named relative to the CRL issuer are not supported (issuingDistributionPoint.distributionPoint.nameRelativeToCRLIssuer)")
	}
	var names cryptobyte.String
	if !dp.ReadASN1(&names, tagExplicit0) || !dp.Empty() {
		return nil, malformed("issuingDistributionPoint.distributionPoint: not a fullName")
	}
	var uris []string
	for i := 0; !names.Empty(); i++ {
		var gn cryptobyte.String
		var tag asn1.Tag
		if !names.ReadAnyASN1(&gn, &tag) {
			return nil, malformed("issuingDistributionPoint.distributionPoint.fullName[%d]: not a GeneralName", i)
		}
		if tag != tagURI {
			continue
		}
		if !printableASCII(gn) {
			return nil, malformed("issuingDistributionPoint.distributionPoint.fullName[%d]: URI is not IA5 text", i)
		}
		uris = append(uris, canonicalURI(string(gn)))
	}
	if len(uris) == 0 {
		return nil, unsupported("distribution point names other than URIs are not supported (issuingDistributionPoint.distributionPoint.fullName)")
	}
	slices.Sort(uris)
	return slices.Compact(uris), nil
}

// printableASCII reports whether b is non-empty visible ASCII, as a URI is.
func printableASCII(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return len(b) > 0
}

// readScope reads the flags that follow the distributionPoint.
func readScope(idp *cryptobyte.String) (Scope, error) {
	user, ok1 := readImplicitBool(idp, tagImplicit1)
	ca, ok2 := readImplicitBool(idp, tagImplicit2)
	if idp.PeekASN1Tag(tagImplicit3) {
		return ScopeAll, unsupported("CRLs covering only some revocation reasons are not supported (issuingDistributionPoint.onlySomeReasons)")
	}
	indirect, ok3 := readImplicitBool(idp, tagImplicit4)
	attr, ok4 := readImplicitBool(idp, tagImplicit5)
	switch {
	case !ok1 || !ok2 || !ok3 || !ok4 || !idp.Empty():
		return ScopeAll, malformed("issuingDistributionPoint: not a valid IssuingDistributionPoint")
	case indirect:
		return ScopeAll, unsupported("indirect CRLs are not supported (issuingDistributionPoint.indirectCRL)")
	case attr:
		return ScopeAll, unsupported("attribute-certificate CRLs are not supported (issuingDistributionPoint.onlyContainsAttributeCerts)")
	case user && ca:
		return ScopeAll, malformed("issuingDistributionPoint: both onlyContainsUserCerts and onlyContainsCACerts are set")
	case user:
		return ScopeUserCerts, nil
	case ca:
		return ScopeCACerts, nil
	}
	return ScopeAll, nil
}
