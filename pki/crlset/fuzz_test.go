package crlset

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// seedCRLs returns a few real CRLs covering the features Parse handles.
func seedCRLs(tb testing.TB) [][]byte {
	ec, rs := ecdsaIssuer(), rsaIssuer()
	e := entries(big.NewInt(1), big.NewInt(0x80), big.NewInt(-3), big.NewInt(0), big.NewInt(1<<40))
	e[0].ReasonCode = 1
	e[1].ExtraExtensions = []pkix.Extension{{Id: oidInvalidDate, Value: genTime("20250101000000Z")}}
	far := time.Date(2060, 1, 1, 0, 0, 0, 0, time.UTC)
	noNext := decompose(tb, ec.sign(tb, &x509.RevocationList{RevokedCertificateEntries: entries(big.NewInt(5))}))
	noNext.nextUpdate = nil
	v1 := decompose(tb, ec.sign(tb, &x509.RevocationList{RevokedCertificateEntries: entries(big.NewInt(6))}))
	v1.version, v1.exts = nil, nil
	long := new(big.Int).Lsh(big.NewInt(0x81), 8*inlineLen) // inlineLen+1 octets, listed twice
	return [][]byte{
		ec.sign(tb, &x509.RevocationList{}),
		ec.sign(tb, &x509.RevocationList{RevokedCertificateEntries: e}),
		rs.sign(tb, &x509.RevocationList{RevokedCertificateEntries: entries(big.NewInt(7), big.NewInt(8))}),
		ec.sign(tb, &x509.RevocationList{ThisUpdate: far, NextUpdate: far.Add(time.Hour), RevokedCertificateEntries: e[:2]}),
		ec.sign(tb, &x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExtension(seq(tlv(tagImplicit1, []byte{0xff})))}}),
		ec.sign(tb, &x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExtension(seq(tlv(tagImplicit4, []byte{0xff})))}}),
		noNext.assemble(),
		v1.assemble(),
		ec.sign(tb, &x509.RevocationList{RevokedCertificateEntries: entries(long, big.NewInt(9), long, new(big.Int).Lsh(long, 8*(MaxSerialLen-inlineLen-1)), big.NewInt(9))}),
	}
}

// FuzzParse checks that Parse never panics, that every error wraps
// ErrMalformed, that an accepted Set is internally consistent, and that when
// crypto/x509 accepts the same input the two agree on the facts and serials.
func FuzzParse(f *testing.F) {
	for _, der := range seedCRLs(f) {
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := Parse(der)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %q does not wrap ErrMalformed", err)
			}
			return
		}
		checkInvariants(t, s)
		// ReadCoverage reads the same scope and partition, entries unread.
		if scope, partition, err := ReadCoverage(der); err != nil || scope != s.Scope() || !slices.Equal(partition, s.Partition()) {
			t.Fatalf("ReadCoverage = %v %q %v; Parse read %v %q", scope, partition, err, s.Scope(), s.Partition())
		}
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			return // stricter in x509 (e.g. v1 CRLs, string types in names)
		}
		compareWithX509(t, s, rl)
	})
}

// checkInvariants checks the internal representation of s.
func checkInvariants(t *testing.T, s *Set) {
	t.Helper()
	if uintptr(unsafe.Pointer(unsafe.SliceData(s.table)))%blockSize != 0 || len(s.table)%blockSize != 0 ||
		uint64(len(s.table)/blockSize) < s.homes {
		t.Fatalf("table of %d bytes at %p for %d homes", len(s.table), s.table, s.homes)
	}
	seen := map[string]bool{}
	next, escaped := uint64(0), 0
	for k := range s.homes {
		start, n := checkGroup(t, s, k, next, &escaped)
		for i := start; i < start+n; i++ {
			b := slotMagnitude(s.slot(i))
			if s.home(slotHash(s, b)) != k || seen[string(b)] {
				t.Fatalf("serial %x in group %d: wrong home or listed twice", b, k)
			}
			seen[string(b)] = true
		}
		if n > 0 {
			next = start + n
		}
	}
	if escaped != len(s.big) || next > uint64(len(s.table)/blockSize*slotsPerBlock) {
		t.Fatalf("%d escaped groups, %d in big; groups end at slot %d of %d", escaped, len(s.big), next, len(s.table)/blockSize*slotsPerBlock)
	}
	for i := range s.longLen() {
		b := s.longSerial(i)
		if len(b) <= inlineLen || len(b) > MaxSerialLen || b[0] == 0 || i > 0 && compareMagnitudes(s.longSerial(i-1), b) >= 0 {
			t.Fatalf("long serial %d (%x) is not a normalised long magnitude in order", i, b)
		}
	}
	if len(seen)+s.longLen() != s.Len() {
		t.Fatalf("Len = %d, stored %d + %d long", s.Len(), len(seen), s.longLen())
	}
	for _, b := range storedSerials(s) {
		if !s.Contains(new(big.Int).SetBytes(b)) {
			t.Fatalf("stored serial %x is not found", b)
		}
	}
}

// checkGroup checks the header of group k, given that the groups before it
// end at slot next and that *escaped of them were escaped, and returns its
// slots.
func checkGroup(t *testing.T, s *Set, k, next uint64, escaped *int) (start, n uint64) {
	t.Helper()
	h := s.header(k)
	start, n = s.group(k)
	if h&skipMask == escape {
		if *escaped >= len(s.big) || uint64(s.big[*escaped].home) != k || n == 0 {
			t.Fatalf("group %d: escaped, but not next in big", k)
		}
		*escaped++
	}
	want := makeHeader(start-k*slotsPerBlock, n)
	switch {
	case h&skipMask == escape:
		want = makeHeader(escape, escape)
	case n == 0:
		want = 0
	}
	if h != want || n > 0 && start != max(next, k*slotsPerBlock) {
		t.Fatalf("group %d: header %#x, slots [%d, +%d), previous groups end at %d", k, h, start, n, next)
	}
	return start, n
}

// compareWithX509 checks that s and rl, parsed from the same DER, agree.
func compareWithX509(t *testing.T, s *Set, rl *x509.RevocationList) {
	t.Helper()
	want := distinctSerials(rl)
	if s.Len() != len(want) {
		t.Fatalf("Len = %d, x509 has %d distinct non-negative serials", s.Len(), len(want))
	}
	for _, e := range rl.RevokedCertificateEntries {
		if s.Contains(e.SerialNumber) != (e.SerialNumber.Sign() >= 0) {
			t.Fatalf("Contains(%x) disagrees with x509", e.SerialNumber)
		}
	}
	if !s.ThisUpdate().Equal(rl.ThisUpdate) || !s.NextUpdate().Equal(rl.NextUpdate) || !bytes.Equal(s.RawIssuer(), rl.RawIssuer) {
		t.Fatalf("facts differ: %v %v %x vs %v %v %x",
			s.ThisUpdate(), s.NextUpdate(), s.RawIssuer(), rl.ThisUpdate, rl.NextUpdate, rl.RawIssuer)
	}
	rng := rand.New(rand.NewPCG(uint64(len(want)), 0))
	for range 20 {
		x := randomSerial(rng)
		if _, listed := want[string(x.Bytes())]; s.Contains(x) != listed {
			t.Fatalf("Contains(%x) = %v, want %v", x, !listed, listed)
		}
	}
}
