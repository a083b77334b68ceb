package crlset

import (
	"bytes"
	"crypto/x509"
	"math/big"
	"math/rand/v2"
	"testing"
)

// checkMembership checks s against the distinct serials want: every one is
// found, and so are none of a few hundred random others or their neighbours.
func checkMembership(t *testing.T, rng *rand.Rand, s *Set, want map[string]*big.Int) {
	t.Helper()
	if s.Len() != len(want) {
		t.Errorf("Len = %d, want %d", s.Len(), len(want))
	}
	for _, x := range want {
		if !s.Contains(x) {
			t.Errorf("Contains(%x) = false for a listed serial", x)
		}
	}
	one := big.NewInt(1)
	for range 300 {
		x := randomSerial(rng)
		for _, y := range []*big.Int{x, new(big.Int).Add(x, one), new(big.Int).Lsh(x, 8*uint(rng.IntN(45)))} {
			if _, listed := want[string(y.Bytes())]; s.Contains(y) != listed {
				t.Errorf("Contains(%x) = %v, want %v", y, !listed, listed)
			}
		}
	}
}

// TestEscapedGroups lowers the escape threshold so that groups of every size
// go to Set.big, alone (mask all ones) and with forced collisions making
// large groups far from their home block.
func TestEscapedGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	tmpl := &x509.RevocationList{}
	for range 600 {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, entries(randomSerial(rng))...)
	}
	tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, tmpl.RevokedCertificateEntries[:30]...)
	der := ecdsaIssuer().sign(t, tmpl)
	rl, _ := x509.ParseRevocationList(der)
	want := distinctSerials(rl)
	for _, mask := range []uint64{^uint64(0), 0xf000_0000_0000_0000, 0x8000_0000_0000_0001} {
		for _, esc := range []uint64{1, 2, 3, escape} {
			s, err := parse(der, tuning{mask: mask, escape: esc})
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, s)
			if esc < escape && len(s.big) == 0 {
				t.Errorf("mask %x, escape %d: no group escaped", mask, esc)
			}
			checkMembership(t, rng, s, want)
			if t.Failed() {
				t.Fatalf("mask %x, escape %d", mask, esc)
			}
		}
	}
}

// TestSpilledGroups checks that a CRL large enough to have groups spilling
// out of their home block (and a skip of several blocks) is read correctly.
func TestSpilledGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	tmpl := &x509.RevocationList{}
	for range 20000 {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, entries(randomSerial(rng))...)
	}
	der := ecdsaIssuer().sign(t, tmpl)
	rl, _ := x509.ParseRevocationList(der)
	s := mustParse(t, der)
	checkInvariants(t, s)
	spilled, maxSkip := 0, uint32(0)
	for k := range s.homes {
		h := s.header(k)
		skip, count := h&skipMask, h>>countShift&0xff
		if skip+count > slotsPerBlock {
			spilled++
		}
		maxSkip = max(maxSkip, skip)
	}
	if spilled == 0 || maxSkip < slotsPerBlock {
		t.Fatalf("%d spilled groups, largest skip %d: the test does not cover spills", spilled, maxSkip)
	}
	checkMembership(t, rng, s, distinctSerials(rl))
}

// TestLongSerials covers serials longer than a slot, which RFC 5280 forbids
// but Parse accepts up to MaxSerialLen octets, mixed with ordinary ones and
// listed twice.
func TestLongSerials(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	var serials []*big.Int
	for _, n := range []int{1, 19, 20, 20, 21, 21, 22, 32, 63, MaxSerialLen, MaxSerialLen} {
		for range 40 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			b[0] |= 0x80 // exactly n octets; 20 with the top bit set still fits a slot
			serials = append(serials, new(big.Int).SetBytes(b))
		}
	}
	serials = append(serials, serials[40:80]...)
	serials = append(serials, serials[200:230]...)
	der := ecdsaIssuer().sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(serials...)})
	rl, _ := x509.ParseRevocationList(der)
	s := mustParse(t, der)
	checkInvariants(t, s)
	if s.longLen() != 7*40 {
		t.Errorf("%d long serials, want %d", s.longLen(), 7*40)
	}
	checkMembership(t, rng, s, distinctSerials(rl))
}

// TestSerialsAt checks the benchmarks' helper against storedSerials.
func TestSerialsAt(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	var serials []*big.Int
	for range 500 {
		serials = append(serials, randomSerial(rng))
	}
	serials = append(serials, new(big.Int).Lsh(big.NewInt(1), 8*inlineLen)) // long
	s := mustParse(t, ecdsaIssuer().sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(serials...)}))
	all := storedSerials(s)
	ranks := rng.Perm(len(all))
	for i, b := range serialsAt(s, ranks) {
		if !bytes.Equal(b, all[ranks[i]]) {
			t.Fatalf("serialsAt: rank %d is %x, want %x", ranks[i], b, all[ranks[i]])
		}
	}
}

// TestKeyOfWords32 checks the 32-bit word path (run natively by GOARCH=386)
// against the 64-bit one.
func TestKeyOfWords32(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for range 1000 {
		x := new(big.Int).Rsh(randomSerial(rng), uint(rng.IntN(8)))
		if rng.IntN(4) == 0 {
			x.Lsh(x, 8) // sometimes longer than inlineLen octets
		}
		var w32 []big.Word // x's 32-bit words, least significant first
		for b := x.Bytes(); len(b) > 0; {
			n := max(len(b)-4, 0)
			w32 = append(w32, big.Word(new(big.Int).SetBytes(b[n:]).Uint64()))
			b = b[:n]
		}
		got, gotOK := keyOfWords32(w32)
		fits := (x.BitLen()+7)/8 <= inlineLen
		if gotOK != fits || fits && got.bytes() != slotBytes(x.Bytes()) {
			t.Fatalf("keyOfWords32(%x) = %v, %v", x, got, gotOK)
		}
		if want, ok := keyOfWords(x.Bits()); ok != fits || fits && want != got {
			t.Fatalf("keyOfWords(%x) = %v, %v; keyOfWords32: %v", x, want, ok, got)
		}
	}
}
