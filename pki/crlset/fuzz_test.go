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
	return [][]byte{
		ec.sign(tb, &x509.RevocationList{}),
		ec.sign(tb, &x509.RevocationList{RevokedCertificateEntries: e}),
		rs.sign(tb, &x509.RevocationList{RevokedCertificateEntries: entries(big.NewInt(7), big.NewInt(8))}),
		ec.sign(tb, &x509.RevocationList{ThisUpdate: far, NextUpdate: far.Add(time.Hour), RevokedCertificateEntries: e[:2]}),
		ec.sign(tb, &x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExtension(seq(tlv(tagImplicit1, []byte{0xff})))}}),
		ec.sign(tb, &x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExtension(seq(tlv(tagImplicit4, []byte{0xff})))}}),
		noNext.assemble(),
		v1.assemble(),
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
	if !slices.IsSorted(s.hashes) || len(s.offsets) != len(s.hashes)+1 || int(s.offsets[len(s.hashes)]) != len(s.slab) {
		t.Fatal("hashes unsorted or offsets inconsistent")
	}
	for i := range s.hashes {
		b := s.serial(i)
		if len(b) > MaxSerialLen || len(b) > 0 && b[0] == 0 || s.hash(b) != s.hashes[i] {
			t.Fatalf("stored serial %d (%x) is not a normalised magnitude with its hash", i, b)
		}
		if !s.Contains(new(big.Int).SetBytes(b)) {
			t.Fatalf("stored serial %x is not found", b)
		}
	}
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
