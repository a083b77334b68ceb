package crlset

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// testIssuer is a CA that can sign CRLs.
type testIssuer struct {
	name string
	cert *x509.Certificate
	key  crypto.Signer
}

var (
	ecdsaIssuer = sync.OnceValue(func() *testIssuer {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		return newIssuer("ECDSA", "ECDSA test CA", k, x509.KeyUsageCRLSign|x509.KeyUsageCertSign)
	})
	rsaIssuer = sync.OnceValue(func() *testIssuer {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		return newIssuer("RSA", "RSA test CA", k, x509.KeyUsageCRLSign|x509.KeyUsageCertSign)
	})
	ed25519Issuer = sync.OnceValue(func() *testIssuer {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		return newIssuer("Ed25519", "Ed25519 test CA", k, x509.KeyUsageCRLSign|x509.KeyUsageCertSign)
	})
)

// newIssuer makes a self-signed CA certificate for key.
func newIssuer(label, cn string, key crypto.Signer, usage x509.KeyUsage) *testIssuer {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"mtlsgate tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              usage,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          []byte(label),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return &testIssuer{name: label, cert: cert, key: key}
}

// sign makes a CRL from tmpl, filling in Number and ThisUpdate when unset.
func (iss *testIssuer) sign(tb testing.TB, tmpl *x509.RevocationList) []byte {
	tb.Helper()
	if tmpl.Number == nil {
		tmpl.Number = big.NewInt(42)
	}
	if tmpl.ThisUpdate.IsZero() {
		tmpl.ThisUpdate = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		tmpl.NextUpdate = tmpl.ThisUpdate.Add(7 * 24 * time.Hour)
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, iss.cert, iss.key)
	if err != nil {
		tb.Fatalf("CreateRevocationList: %v", err)
	}
	return der
}

// entries makes revocation entries for the given serials.
func entries(serials ...*big.Int) []x509.RevocationListEntry {
	out := make([]x509.RevocationListEntry, len(serials))
	for i, s := range serials {
		out[i] = x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)}
	}
	return out
}

// crlParts is a CRL split into raw DER elements, so that tests can replace
// one field and reassemble. A nil field is left out.
type crlParts struct {
	version, sigAlg, issuer, thisUpdate, nextUpdate, revoked, exts []byte
	extraTBS                                                       []byte // appended inside TBSCertList
	outerAlg, sig                                                  []byte
	extraOuter                                                     []byte // appended inside CertificateList
	trailing                                                       []byte // appended after CertificateList
}

// decompose splits a well-formed CRL into parts.
func decompose(tb testing.TB, der []byte) crlParts {
	tb.Helper()
	var p crlParts
	in := cryptobyte.String(der)
	var outer, tbs cryptobyte.String
	ok := in.ReadASN1(&outer, asn1.SEQUENCE) && outer.ReadASN1(&tbs, asn1.SEQUENCE)
	ok = ok && readElem(&tbs, (*cryptobyte.String)(&p.version), asn1.INTEGER, true)
	ok = ok && readElem(&tbs, (*cryptobyte.String)(&p.sigAlg), asn1.SEQUENCE, false)
	ok = ok && readElem(&tbs, (*cryptobyte.String)(&p.issuer), asn1.SEQUENCE, false)
	ok = ok && readAnyElem(&tbs, &p.thisUpdate)
	if tbs.PeekASN1Tag(asn1.UTCTime) || tbs.PeekASN1Tag(asn1.GeneralizedTime) {
		ok = ok && readAnyElem(&tbs, &p.nextUpdate)
	}
	ok = ok && readElem(&tbs, (*cryptobyte.String)(&p.revoked), asn1.SEQUENCE, true)
	ok = ok && readElem(&tbs, (*cryptobyte.String)(&p.exts), tagExplicit0, true)
	ok = ok && tbs.Empty()
	ok = ok && readElem(&outer, (*cryptobyte.String)(&p.outerAlg), asn1.SEQUENCE, false)
	ok = ok && readElem(&outer, (*cryptobyte.String)(&p.sig), asn1.BIT_STRING, false) && outer.Empty()
	if !ok {
		tb.Fatalf("decompose: not a CRL: %x", der)
	}
	return p
}

func readElem(s, out *cryptobyte.String, tag asn1.Tag, optional bool) bool {
	if optional && !s.PeekASN1Tag(tag) {
		return true
	}
	return s.ReadASN1Element(out, tag)
}

func readAnyElem(s *cryptobyte.String, out *[]byte) bool {
	var tag asn1.Tag
	return s.ReadAnyASN1Element((*cryptobyte.String)(out), &tag)
}

// assemble rebuilds the CRL DER from p.
func (p crlParts) assemble() []byte {
	tbs := seq(p.version, p.sigAlg, p.issuer, p.thisUpdate, p.nextUpdate, p.revoked, p.exts, p.extraTBS)
	return append(seq(tbs, p.outerAlg, p.sig, p.extraOuter), p.trailing...)
}

// tlv encodes one DER element.
func tlv(tag asn1.Tag, content ...[]byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(tag, func(b *cryptobyte.Builder) {
		for _, c := range content {
			b.AddBytes(c)
		}
	})
	return b.BytesOrPanic()
}

func seq(content ...[]byte) []byte { return tlv(asn1.SEQUENCE, content...) }

// entryDER encodes one revokedCertificates entry from raw element bytes.
func entryDER(serialContent []byte, when []byte, exts ...[]byte) []byte {
	parts := [][]byte{tlv(asn1.INTEGER, serialContent), when}
	if len(exts) > 0 {
		parts = append(parts, seq(exts...))
	}
	return seq(parts...)
}

// extDER encodes one Extension.
func extDER(oid []byte, critical bool, value []byte) []byte {
	parts := [][]byte{tlv(asn1.OBJECT_IDENTIFIER, oid)}
	if critical {
		parts = append(parts, tlv(asn1.BOOLEAN, []byte{0xff}))
	}
	return seq(append(parts, tlv(asn1.OCTET_STRING, value))...)
}

func utc(s string) []byte     { return tlv(asn1.UTCTime, []byte(s)) }
func genTime(s string) []byte { return tlv(asn1.GeneralizedTime, []byte(s)) }

// mustParse parses der or fails the test.
func mustParse(tb testing.TB, der []byte) *Set {
	tb.Helper()
	s, err := Parse(der)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return s
}

// Object identifiers for extensions built by tests.
var (
	oidIDP         = encasn1.ObjectIdentifier{2, 5, 29, 28}
	oidDelta       = encasn1.ObjectIdentifier{2, 5, 29, 27}
	oidCertIssuer  = encasn1.ObjectIdentifier{2, 5, 29, 29}
	oidInvalidDate = encasn1.ObjectIdentifier{2, 5, 29, 24}
	oidUnknown     = encasn1.ObjectIdentifier{1, 2, 3, 4}
)

// idpExtension is a critical issuingDistributionPoint with value v.
func idpExtension(v []byte) pkix.Extension {
	return pkix.Extension{Id: oidIDP, Critical: true, Value: v}
}

func encasn1OID(arcs ...int) encasn1.ObjectIdentifier { return arcs }

// storedSerials returns every magnitude s stores: the table's groups in home
// order, then the long serials.
func storedSerials(s *Set) [][]byte {
	var out [][]byte
	for k := range s.homes {
		start, n := s.group(k)
		for i := start; i < start+n; i++ {
			out = append(out, slotMagnitude(s.slot(i)))
		}
	}
	for i := range s.longLen() {
		out = append(out, s.longSerial(i))
	}
	return out
}

// serialsAt returns the magnitudes of the stored serials with the given
// ranks in the order storedSerials lists them, without materialising them
// all (the lookup benchmarks must not leave a million objects behind for the
// garbage collector to work on while they run).
func serialsAt(s *Set, ranks []int) [][]byte {
	order := make([]int, len(ranks)) // indices of ranks, by rank
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return ranks[a] - ranks[b] })
	out := make([][]byte, len(ranks))
	rank, j := 0, 0
	for k := range s.homes {
		start, n := s.group(k)
		for i := start; i < start+n; i++ {
			for ; j < len(order) && ranks[order[j]] == rank; j++ {
				out[order[j]] = slotMagnitude(s.slot(i))
			}
			rank++
		}
	}
	for i := range s.longLen() {
		for ; j < len(order) && ranks[order[j]] == rank; j++ {
			out[order[j]] = s.longSerial(i)
		}
		rank++
	}
	return out
}

// slotMagnitude returns the magnitude a slot holds.
func slotMagnitude(slot *[inlineLen]byte) []byte {
	b := slot[:]
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	b = slices.Clone(b)
	slices.Reverse(b)
	return b
}

// slotHash returns s's hash of the magnitude b of at most inlineLen octets.
func slotHash(s *Set, b []byte) uint64 {
	slot := slotBytes(b)
	return s.hash(slot[:])
}
