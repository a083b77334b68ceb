package crlset

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte/asn1"
)

// TestMalformed checks that every broken or unsupported CRL is refused with
// ErrMalformed (and ErrUnsupported where it applies) and a message naming the
// problem.
func TestMalformed(t *testing.T) {
	iss := ecdsaIssuer()
	good := iss.sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(big.NewInt(1), big.NewInt(2), big.NewInt(3))})
	withExt := func(exts ...pkix.Extension) []byte {
		return iss.sign(t, &x509.RevocationList{ExtraExtensions: exts})
	}
	withEntryExt := func(ext pkix.Extension) []byte {
		e := entries(big.NewInt(1), big.NewInt(2))
		e[1].ExtraExtensions = []pkix.Extension{ext}
		return iss.sign(t, &x509.RevocationList{RevokedCertificateEntries: e})
	}
	edit := func(f func(p *crlParts)) []byte {
		p := decompose(t, good)
		f(&p)
		return p.assemble()
	}
	revoked := func(list ...[]byte) []byte {
		return edit(func(p *crlParts) { p.revoked = seq(list...) })
	}
	okEntry := entryDER([]byte{1}, utc("250101000000Z"))

	tests := []struct {
		name        string
		der         []byte
		want        string // substring of the error message
		unsupported bool
	}{
		{"empty", nil, "CertificateList: not a DER SEQUENCE", false},
		{"truncated by one byte", good[:len(good)-1], "CertificateList: not a DER SEQUENCE, or truncated", false},
		{"truncated in half", good[:len(good)/2], "truncated", false},
		{"trailing bytes after CertificateList", append(append([]byte{}, good...), 0, 0), "2 trailing bytes after the CertificateList", false},
		{"data after signatureValue", edit(func(p *crlParts) { p.extraOuter = tlv(asn1.NULL) }), "unexpected data after signatureValue", false},
		{"data after crlExtensions", edit(func(p *crlParts) { p.extraTBS = tlv(asn1.NULL) }), "tbsCertList: unexpected field with tag 0x05", false},
		{"not a SEQUENCE", tlv(asn1.SET, good[2:]), "not a DER SEQUENCE", false},
		{"version 3", edit(func(p *crlParts) { p.version = tlv(asn1.INTEGER, []byte{2}) }), "version: must be v2", false},
		{"explicit version 1", edit(func(p *crlParts) { p.version = tlv(asn1.INTEGER, []byte{0}) }), "version: must be v2", false},
		{"v1 with extensions", edit(func(p *crlParts) { p.version = nil; p.revoked = nil }), "crlExtensions: present in a v1 CRL", false},
		{"v1 with entry extensions", edit(func(p *crlParts) {
			p.version, p.exts = nil, nil
			p.revoked = seq(entryDER([]byte{1}, utc("250101000000Z"), extDER([]byte(oidReasonCode), false, tlv(asn1.ENUM, []byte{1}))))
		}), "revokedCertificates[0].crlEntryExtensions: present in a v1 CRL", false},
		{"signature algorithms differ", edit(func(p *crlParts) { p.sigAlg = seq(tlv(asn1.OBJECT_IDENTIFIER, []byte{0x2a, 0x03})) }), "differs from the outer signatureAlgorithm", false},
		{"bad signatureAlgorithm", edit(func(p *crlParts) { p.outerAlg = seq(tlv(asn1.NULL)) }), "signatureAlgorithm: missing or not an AlgorithmIdentifier", false},
		{"signature with unused bits", edit(func(p *crlParts) { p.sig = tlv(asn1.BIT_STRING, []byte{3, 0xf8}) }), "signatureValue", false},
		{"issuer not a SEQUENCE", edit(func(p *crlParts) { p.issuer = tlv(asn1.SET) }), "issuer: missing or not a SEQUENCE", false},
		{"issuer with empty RDN", edit(func(p *crlParts) { p.issuer = seq(tlv(asn1.SET)) }), "issuer: not a valid RDNSequence", false},
		{"thisUpdate month 13", edit(func(p *crlParts) { p.thisUpdate = utc("251301000000Z") }), `thisUpdate: UTCTime "251301000000Z" is not a valid date and time`, false},
		{"thisUpdate Feb 29 2023", edit(func(p *crlParts) { p.thisUpdate = genTime("20230229000000Z") }), "thisUpdate: GeneralizedTime", false},
		{"thisUpdate Feb 29 2100", edit(func(p *crlParts) { p.thisUpdate = genTime("21000229000000Z") }), "not a valid date", false},
		{"thisUpdate leap second", edit(func(p *crlParts) { p.thisUpdate = utc("251231235960Z") }), "not a valid date", false},
		{"thisUpdate with offset", edit(func(p *crlParts) { p.thisUpdate = utc("250101000000+0100") }), "is not YYMMDDHHMMSSZ", false},
		{"thisUpdate without seconds", edit(func(p *crlParts) { p.thisUpdate = utc("2501010000Z") }), "is not YYMMDDHHMMSSZ", false},
		{"thisUpdate with fraction", edit(func(p *crlParts) { p.thisUpdate = genTime("20250101000000.5Z") }), "is not YYYYMMDDHHMMSSZ", false},
		{"thisUpdate non-digit", edit(func(p *crlParts) { p.thisUpdate = utc("25010100000aZ") }), `UTCTime "25010100000aZ" is not YYMMDDHHMMSSZ`, false},
		{"thisUpdate wrong type", edit(func(p *crlParts) { p.thisUpdate = tlv(asn1.INTEGER, []byte{1}) }), "thisUpdate: tag 0x02 is neither UTCTime nor GeneralizedTime", false},
		{"thisUpdate missing", edit(func(p *crlParts) { p.thisUpdate, p.nextUpdate, p.revoked, p.exts = nil, nil, nil, nil }), "thisUpdate: missing or truncated", false},
		{"nextUpdate bad", edit(func(p *crlParts) { p.nextUpdate = genTime("20251232000000Z") }), "nextUpdate: GeneralizedTime", false},
		{"entry not a SEQUENCE", revoked(okEntry, tlv(asn1.INTEGER, []byte{1})), "revokedCertificates[1]: not a SEQUENCE", false},
		{"entry serial missing", revoked(okEntry, okEntry, seq(utc("250101000000Z"))), "revokedCertificates[2].userCertificate: missing or not an INTEGER", false},
		{"entry serial not minimal", revoked(okEntry, entryDER([]byte{0, 1}, utc("250101000000Z"))), "revokedCertificates[1].userCertificate: INTEGER not minimally encoded", false},
		{"entry serial empty", revoked(entryDER(nil, utc("250101000000Z"))), "revokedCertificates[0].userCertificate: empty INTEGER", false},
		{"entry bad revocationDate", revoked(okEntry, okEntry, entryDER([]byte{3}, utc("250230000000Z"))), "revokedCertificates[2].revocationDate: UTCTime", false},
		{"entry trailing data", revoked(seq(tlv(asn1.INTEGER, []byte{1}), utc("250101000000Z"), tlv(asn1.NULL))), "revokedCertificates[0]: unexpected data", false},
		{"entry bad extension", revoked(okEntry, entryDER([]byte{2}, utc("250101000000Z"), seq(tlv(asn1.OBJECT_IDENTIFIER, []byte{0x2a})))), "revokedCertificates[1].crlEntryExtensions[0]: not a valid Extension", false},
		{"entry extension bad OID", revoked(entryDER([]byte{2}, utc("250101000000Z"), extDER([]byte{0x2a, 0x80}, false, nil))), "crlEntryExtensions[0]: not a valid Extension", false},
		{"serial too long", revoked(entryDER(append([]byte{1}, make([]byte, MaxSerialLen)...), utc("250101000000Z"))), "revokedCertificates[0].userCertificate: serial number of 65 octets is longer than 64", true},
		{"indirect: certificateIssuer entry extension", withEntryExt(pkix.Extension{Id: oidCertIssuer, Critical: true, Value: seq()}), "revokedCertificates[1]: indirect CRLs are not supported", true},
		{"indirect: non-critical certificateIssuer", withEntryExt(pkix.Extension{Id: oidCertIssuer, Value: seq()}), "indirect CRLs are not supported", true},
		{"indirect: issuingDistributionPoint", withExt(idpExtension(seq(tlv(tagImplicit4, []byte{0xff})))), "indirect CRLs are not supported (issuingDistributionPoint.indirectCRL)", true},
		{"delta CRL", withExt(pkix.Extension{Id: oidDelta, Critical: true, Value: tlv(asn1.INTEGER, []byte{7})}), "delta CRLs are not supported", true},
		{"unknown critical CRL extension", withExt(pkix.Extension{Id: oidUnknown, Critical: true, Value: []byte{5, 0}}), "unrecognised critical CRL extension 1.2.3.4", true},
		{"unknown critical entry extension", withEntryExt(pkix.Extension{Id: oidUnknown, Critical: true, Value: []byte{5, 0}}), "revokedCertificates[1]: unrecognised critical entry extension 1.2.3.4", true},
		{"onlySomeReasons", withExt(idpExtension(seq(tlv(tagImplicit3, []byte{7, 0x80})))), "onlySomeReasons", true},
		{"onlyContainsAttributeCerts", withExt(idpExtension(seq(tlv(tagImplicit5, []byte{0xff})))), "onlyContainsAttributeCerts", true},
		{"IDP user and CA", withExt(idpExtension(seq(tlv(tagImplicit1, []byte{0xff}), tlv(tagImplicit2, []byte{0xff})))), "both onlyContainsUserCerts and onlyContainsCACerts", false},
		{"IDP bad boolean", withExt(idpExtension(seq(tlv(tagImplicit1, []byte{1})))), "issuingDistributionPoint: not a valid", false},
		{"IDP not a SEQUENCE", withExt(idpExtension(tlv(asn1.NULL))), "issuingDistributionPoint: not a valid", false},
		{"IDP nameRelativeToCRLIssuer", withExt(idpExtension(seq(tlv(tagExplicit0, tlv(tagConstructed1, seq()))))), "nameRelativeToCRLIssuer", true},
		{"IDP fullName without a URI", withExt(idpExtension(seq(tlv(tagExplicit0, tlv(tagExplicit0, tlv(asn1.Tag(4).Constructed().ContextSpecific(), seq())))))), "names other than URIs", true},
		{"IDP URI not text", withExt(idpExtension(seq(tlv(tagExplicit0, tlv(tagExplicit0, tlv(tagURI, []byte("http://a b"))))))), "URI is not IA5 text", false},
		{"IDP fullName truncated", withExt(idpExtension(seq(tlv(tagExplicit0, tlv(tagExplicit0, []byte{0x86, 5, 'h'}))))), "not a GeneralName", false},
		{"duplicate extension", withExt(pkix.Extension{Id: oidUnknown, Value: []byte{5, 0}}, pkix.Extension{Id: oidUnknown, Value: []byte{5, 0}}), "crlExtensions[3]: duplicate extension 1.2.3.4", false},
		{"crlExtensions not EXPLICIT", edit(func(p *crlParts) { p.exts = tlv(tagExplicit0, tlv(asn1.SET)) }), "crlExtensions: not a [0] EXPLICIT SEQUENCE", false},
		{"cRLNumber negative", edit(func(p *crlParts) { p.exts = crlNumberExt(tlv(asn1.INTEGER, []byte{0xff})) }), "cRLNumber: negative", false},
		{"cRLNumber 21 octets", edit(func(p *crlParts) { p.exts = crlNumberExt(tlv(asn1.INTEGER, append([]byte{1}, make([]byte, 20)...))) }), "cRLNumber: 21 octets, more than the 20", false},
		{"cRLNumber not an INTEGER", edit(func(p *crlParts) { p.exts = crlNumberExt(tlv(asn1.OCTET_STRING, []byte{1})) }), "cRLNumber: not a single INTEGER", false},
		{"cRLNumber not minimal", edit(func(p *crlParts) { p.exts = crlNumberExt(tlv(asn1.INTEGER, []byte{0, 1})) }), "cRLNumber: INTEGER not minimally encoded", false},
		{"bad CRL extension", edit(func(p *crlParts) { p.exts = tlv(tagExplicit0, seq(seq(tlv(asn1.NULL)))) }), "crlExtensions[0]: not a valid Extension", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.der)
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if !errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnsupported) != tt.unsupported {
				t.Errorf("error %q: Is(ErrMalformed) = %v, Is(ErrUnsupported) = %v, want true, %v",
					err, errors.Is(err, ErrMalformed), errors.Is(err, ErrUnsupported), tt.unsupported)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestAccepted covers unusual but valid CRLs.
func TestAccepted(t *testing.T) {
	iss := ecdsaIssuer()
	e := entries(big.NewInt(9), big.NewInt(10))
	e[0].ExtraExtensions = []pkix.Extension{{Id: oidUnknown, Value: []byte{5, 0}}}                                   // unknown non-critical
	e[1].ExtraExtensions = []pkix.Extension{{Id: oidInvalidDate, Critical: true, Value: genTime("20250101000000Z")}} // known, critical
	good := iss.sign(t, &x509.RevocationList{
		RevokedCertificateEntries: e,
		ExtraExtensions:           []pkix.Extension{{Id: encasn1OID(1, 3, 6, 1, 5, 5, 7, 1, 1), Value: seq()}},
	})
	v1 := decompose(t, iss.sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(big.NewInt(9), big.NewInt(10))}))
	v1.version, v1.exts = nil, nil
	empty := decompose(t, good)
	empty.revoked = seq()
	for name, der := range map[string][]byte{"extensions": good, "v1": v1.assemble(), "empty revokedCertificates": empty.assemble()} {
		s, err := Parse(der)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := name != "empty revokedCertificates"; s.Contains(big.NewInt(9)) != want || s.Contains(big.NewInt(10)) != want {
			t.Errorf("%s: Contains(9), Contains(10) = %v, %v", name, s.Contains(big.NewInt(9)), s.Contains(big.NewInt(10)))
		}
	}
}

// crlNumberExt returns crlExtensions holding one cRLNumber extension whose
// value is the DER element v.
func crlNumberExt(v []byte) []byte {
	return tlv(tagExplicit0, seq(extDER([]byte(oidCRLNumber), false, v)))
}
