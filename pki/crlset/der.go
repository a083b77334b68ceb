package crlset

import (
	encasn1 "encoding/asn1"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Content octets of the object identifiers this package recognises.
const (
	oidReasonCode          = "\x55\x1d\x15" // 2.5.29.21
	oidHoldInstructionCode = "\x55\x1d\x17" // 2.5.29.23
	oidInvalidityDate      = "\x55\x1d\x18" // 2.5.29.24
	oidCertificateIssuer   = "\x55\x1d\x1d" // 2.5.29.29
	oidIssuerAltName       = "\x55\x1d\x12" // 2.5.29.18
	oidCRLNumber           = "\x55\x1d\x14" // 2.5.29.20
	oidDeltaCRLIndicator   = "\x55\x1d\x1b" // 2.5.29.27
	oidIssuingDistPoint    = "\x55\x1d\x1c" // 2.5.29.28
	oidAuthorityKeyID      = "\x55\x1d\x23" // 2.5.29.35
)

// Context-specific tags used by TBSCertList and IssuingDistributionPoint.
var (
	tagExplicit0 = asn1.Tag(0).Constructed().ContextSpecific()
	tagImplicit1 = asn1.Tag(1).ContextSpecific()
	tagImplicit2 = asn1.Tag(2).ContextSpecific()
	tagImplicit3 = asn1.Tag(3).ContextSpecific()
	tagImplicit4 = asn1.Tag(4).ContextSpecific()
	tagImplicit5 = asn1.Tag(5).ContextSpecific()
	// tagConstructed1 is DistributionPointName.nameRelativeToCRLIssuer.
	tagConstructed1 = asn1.Tag(1).Constructed().ContextSpecific()
	// tagURI is GeneralName.uniformResourceIdentifier, an implicit IA5String.
	tagURI = asn1.Tag(6).ContextSpecific()
)

// validOID reports whether b is well-formed OBJECT IDENTIFIER content:
// non-empty base-128 subidentifiers, each minimally encoded.
func validOID(b []byte) bool {
	if len(b) == 0 || b[len(b)-1]&0x80 != 0 {
		return false
	}
	start := true
	for _, c := range b {
		if start && c == 0x80 {
			return false
		}
		start = c&0x80 == 0
	}
	return true
}

// oidString formats OBJECT IDENTIFIER content octets in dotted form, for
// error messages.
func oidString(content []byte) string {
	var b cryptobyte.Builder
	b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(content) })
	der := cryptobyte.String(b.BytesOrPanic())
	var oid encasn1.ObjectIdentifier
	if !der.ReadASN1ObjectIdentifier(&oid) {
		return fmt.Sprintf("<OID %x>", content)
	}
	return oid.String()
}

// integerMagnitude checks that b is minimally encoded INTEGER content and
// returns its magnitude without leading zero octets (empty for zero) when it
// is not negative.
func integerMagnitude(b []byte) (mag []byte, negative bool, err error) {
	switch {
	case len(b) == 0:
		return nil, false, errors.New("empty INTEGER")
	case len(b) > 1 && (b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xff && b[1]&0x80 != 0):
		return nil, false, errors.New("INTEGER not minimally encoded")
	case b[0]&0x80 != 0:
		return nil, true, nil
	case b[0] == 0:
		return b[1:], false, nil
	}
	return b, false, nil
}

// readAlgorithmIdentifier reads an AlgorithmIdentifier element from s into
// elem after checking its shape: SEQUENCE { OID, parameters ANY OPTIONAL }.
func readAlgorithmIdentifier(s *cryptobyte.String, elem *cryptobyte.String) bool {
	var body, oid, params cryptobyte.String
	var tag asn1.Tag
	if !s.ReadASN1Element(elem, asn1.SEQUENCE) {
		return false
	}
	body = *elem
	if !body.ReadASN1(&body, asn1.SEQUENCE) || !body.ReadASN1(&oid, asn1.OBJECT_IDENTIFIER) || !validOID(oid) {
		return false
	}
	return body.Empty() || body.ReadAnyASN1Element(&params, &tag) && body.Empty()
}

// validName reports whether name is the content of an RDNSequence:
// SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }.
func validName(name cryptobyte.String) bool {
	for !name.Empty() {
		var rdn cryptobyte.String
		if !name.ReadASN1(&rdn, asn1.SET) || rdn.Empty() {
			return false
		}
		for !rdn.Empty() {
			var atv, typ, val cryptobyte.String
			var tag asn1.Tag
			if !rdn.ReadASN1(&atv, asn1.SEQUENCE) || !atv.ReadASN1(&typ, asn1.OBJECT_IDENTIFIER) ||
				!validOID(typ) || !atv.ReadAnyASN1Element(&val, &tag) || !atv.Empty() {
				return false
			}
		}
	}
	return true
}

// extension is one parsed Extension ::= SEQUENCE { extnID, critical, extnValue }.
type extension struct {
	oid      []byte // content octets
	critical bool
	value    cryptobyte.String // content of the OCTET STRING
}

// readExtension reads one Extension from s.
func readExtension(s *cryptobyte.String) (extension, bool) {
	var e, oid cryptobyte.String
	var x extension
	if !s.ReadASN1(&e, asn1.SEQUENCE) || !e.ReadASN1(&oid, asn1.OBJECT_IDENTIFIER) || !validOID(oid) {
		return x, false
	}
	x.oid = oid
	if e.PeekASN1Tag(asn1.BOOLEAN) && !e.ReadASN1Boolean(&x.critical) {
		return x, false
	}
	return x, e.ReadASN1(&x.value, asn1.OCTET_STRING) && e.Empty()
}

// readImplicitBool reads an optional [tag] IMPLICIT BOOLEAN DEFAULT FALSE.
func readImplicitBool(s *cryptobyte.String, tag asn1.Tag) (bool, bool) {
	var v cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&v, &present, tag) {
		return false, false
	}
	if !present {
		return false, true
	}
	if len(v) != 1 || v[0] != 0 && v[0] != 0xff {
		return false, false
	}
	return v[0] == 0xff, true
}

// civil is a validated calendar date and time of day, in UTC.
type civil struct{ year, mon, day, hour, min, sec int }

// readTime reads a Time (UTCTime or GeneralizedTime) in the RFC 5280 profile.
func readTime(s *cryptobyte.String) (time.Time, error) {
	c, err := decodeTime(s)
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(c.year, time.Month(c.mon), c.day, c.hour, c.min, c.sec, 0, time.UTC), nil
}

// decodeTime reads and validates a Time without building a time.Time.
func decodeTime(s *cryptobyte.String) (civil, error) {
	var v cryptobyte.String
	var tag asn1.Tag
	if !s.ReadAnyASN1(&v, &tag) {
		return civil{}, errors.New("missing or truncated")
	}
	switch tag {
	case asn1.UTCTime:
		return parseUTCTime(v)
	case asn1.GeneralizedTime:
		return parseGeneralizedTime(v)
	}
	return civil{}, fmt.Errorf("tag 0x%02x is neither UTCTime nor GeneralizedTime", uint8(tag))
}

// parseUTCTime parses YYMMDDHHMMSSZ; YY 50–99 is 1950–1999, 00–49 is 2000–2049.
func parseUTCTime(b []byte) (civil, error) {
	var v [6]int
	if len(b) != 13 || b[12] != 'Z' || !digitPairs(b[:12], v[:]) {
		return civil{}, fmt.Errorf("UTCTime %q is not YYMMDDHHMMSSZ", b)
	}
	year := 2000 + v[0]
	if v[0] >= 50 {
		year = 1900 + v[0]
	}
	return checkCivil("UTCTime", b, civil{year, v[1], v[2], v[3], v[4], v[5]})
}

// parseGeneralizedTime parses YYYYMMDDHHMMSSZ (no fractional seconds).
func parseGeneralizedTime(b []byte) (civil, error) {
	var v [7]int
	if len(b) != 15 || b[14] != 'Z' || !digitPairs(b[:14], v[:]) {
		return civil{}, fmt.Errorf("GeneralizedTime %q is not YYYYMMDDHHMMSSZ", b)
	}
	return checkCivil("GeneralizedTime", b, civil{v[0]*100 + v[1], v[2], v[3], v[4], v[5], v[6]})
}

// digitPairs decodes len(v) two-digit decimal numbers from b into v.
func digitPairs(b []byte, v []int) bool {
	for i := range v {
		hi, lo := b[2*i]-'0', b[2*i+1]-'0'
		if hi > 9 || lo > 9 {
			return false
		}
		v[i] = int(hi)*10 + int(lo)
	}
	return true
}

// checkCivil returns c if it is a valid date and time; raw is the encoded
// value of the given kind, for the error message.
func checkCivil(kind string, raw []byte, c civil) (civil, error) {
	if c.mon < 1 || c.mon > 12 || c.day < 1 || c.day > daysIn(c.mon, c.year) ||
		c.hour > 23 || c.min > 59 || c.sec > 59 {
		return civil{}, fmt.Errorf("%s %q is not a valid date and time", kind, raw)
	}
	return c, nil
}

// daysIn returns the number of days in month mon (1–12) of year.
func daysIn(mon, year int) int {
	switch mon {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
