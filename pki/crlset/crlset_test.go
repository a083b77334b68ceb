package crlset

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte/asn1"
)

// randomSerial returns a positive serial of 1–20 octets; about a third have
// the top bit of the first octet set, so DER needs a leading zero octet.
func randomSerial(rng *rand.Rand) *big.Int {
	b := make([]byte, 1+rng.IntN(20))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	switch rng.IntN(3) {
	case 0:
		b[0] |= 0x80
	case 1:
		b[0] = max(b[0]&0x7f, 1)
	}
	return new(big.Int).SetBytes(b)
}

// randomTime returns a whole-second time between 1900 and 2200, so both
// UTCTime (1950–2049) and GeneralizedTime encodings occur.
func randomTime(rng *rand.Rand) time.Time {
	lo := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	return time.Unix(lo+rng.Int64N(hi-lo), 0).UTC()
}

// randomTemplate returns a CRL template with random entries and times.
func randomTemplate(rng *rand.Rand) *x509.RevocationList {
	tmpl := &x509.RevocationList{Number: big.NewInt(rng.Int64N(1 << 40))}
	tmpl.ThisUpdate = randomTime(rng)
	tmpl.NextUpdate = tmpl.ThisUpdate.Add(time.Duration(rng.Int64N(1<<20)) * time.Hour)
	n := []int{0, 1, 2, rng.IntN(50), rng.IntN(300)}[rng.IntN(5)]
	for range n {
		e := x509.RevocationListEntry{SerialNumber: randomSerial(rng), RevocationTime: randomTime(rng)}
		switch k := rng.IntN(20); {
		case k == 0 && len(tmpl.RevokedCertificateEntries) > 0: // duplicate serial
			e.SerialNumber = tmpl.RevokedCertificateEntries[rng.IntN(len(tmpl.RevokedCertificateEntries))].SerialNumber
		case k == 1:
			e.SerialNumber.Neg(e.SerialNumber)
		case k == 2:
			e.SerialNumber = new(big.Int)
		}
		if rng.IntN(2) == 0 {
			e.ReasonCode = []int{1, 2, 3, 4, 5, 6, 8, 9, 10}[rng.IntN(9)]
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, e)
	}
	return tmpl
}

// distinctSerials returns the set semantics the package promises for the
// entries of rl: distinct, non-negative serials.
func distinctSerials(rl *x509.RevocationList) map[string]*big.Int {
	m := map[string]*big.Int{}
	for _, e := range rl.RevokedCertificateEntries {
		if e.SerialNumber.Sign() >= 0 {
			m[string(e.SerialNumber.Bytes())] = e.SerialNumber
		}
	}
	return m
}

// checkAgainstX509 compares s with what crypto/x509 makes of der.
func checkAgainstX509(t *testing.T, rng *rand.Rand, der []byte, s *Set) {
	t.Helper()
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("x509.ParseRevocationList: %v", err)
	}
	want := distinctSerials(rl)
	if s.Len() != len(want) {
		t.Errorf("Len = %d, want %d", s.Len(), len(want))
	}
	if !s.ThisUpdate().Equal(rl.ThisUpdate) || !s.NextUpdate().Equal(rl.NextUpdate) {
		t.Errorf("times = %v, %v; want %v, %v", s.ThisUpdate(), s.NextUpdate(), rl.ThisUpdate, rl.NextUpdate)
	}
	if !bytes.Equal(s.RawIssuer(), rl.RawIssuer) {
		t.Errorf("RawIssuer = %x, want %x", s.RawIssuer(), rl.RawIssuer)
	}
	if s.Entries() != len(rl.RevokedCertificateEntries) {
		t.Errorf("Entries = %d, want %d", s.Entries(), len(rl.RevokedCertificateEntries))
	}
	if got := s.Number(); (got == nil) != (rl.Number == nil) || (got != nil && got.Cmp(rl.Number) != 0) {
		t.Errorf("Number = %v, want %v", got, rl.Number)
	}
	for _, e := range rl.RevokedCertificateEntries {
		if got := s.Contains(e.SerialNumber); got != (e.SerialNumber.Sign() >= 0) {
			t.Errorf("Contains(%x) = %v", e.SerialNumber, got)
		}
	}
	for range 200 {
		x := randomSerial(rng)
		if _, listed := want[string(x.Bytes())]; s.Contains(x) != listed {
			t.Errorf("Contains(%x) = %v, want %v", x, !listed, listed)
		}
	}
}

func TestDifferentialAgainstX509(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	issuers := []*testIssuer{ecdsaIssuer(), rsaIssuer()}
	for i := range 120 {
		iss := issuers[i%len(issuers)]
		der := iss.sign(t, randomTemplate(rng))
		if i%4 == 3 { // drop nextUpdate (x509.CreateRevocationList always sets it)
			p := decompose(t, der)
			p.nextUpdate = nil
			der = p.assemble()
		}
		s := mustParse(t, der)
		checkAgainstX509(t, rng, der, s)
		if i%4 != 3 {
			if _, err := ParseVerified(der, iss.cert); err != nil {
				t.Fatalf("ParseVerified: %v", err)
			}
		}
		if t.Failed() {
			t.Fatalf("CRL %d (%s issuer): %x", i, iss.name, der)
		}
	}
}

func TestTimesAndIssuer(t *testing.T) {
	iss := ecdsaIssuer()
	tests := []struct {
		name            string
		this, next      time.Time
		dropNextFromDER bool
	}{
		{name: "UTCTime both", this: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), next: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)},
		{name: "1950 lower bound UTCTime", this: time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), next: time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)},
		{name: "GeneralizedTime from 2050", this: time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), next: time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC)},
		{name: "GeneralizedTime before 1950", this: time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC), next: time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
		{name: "no nextUpdate", this: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), next: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), dropNextFromDER: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der := iss.sign(t, &x509.RevocationList{ThisUpdate: tt.this, NextUpdate: tt.next})
			wantNext := tt.next
			if tt.dropNextFromDER {
				p := decompose(t, der)
				p.nextUpdate = nil
				der, wantNext = p.assemble(), time.Time{}
			}
			s := mustParse(t, der)
			if !s.ThisUpdate().Equal(tt.this) || !s.NextUpdate().Equal(wantNext) || s.NextUpdate().IsZero() != wantNext.IsZero() {
				t.Errorf("got %v / %v, want %v / %v", s.ThisUpdate(), s.NextUpdate(), tt.this, wantNext)
			}
			if !bytes.Equal(s.RawIssuer(), iss.cert.RawSubject) {
				t.Errorf("RawIssuer differs from the issuer's RawSubject")
			}
			if s.Len() != 0 || s.Scope() != ScopeAll {
				t.Errorf("Len = %d, Scope = %v", s.Len(), s.Scope())
			}
		})
	}
}

// TestHandWrittenTimes covers time encodings x509.CreateRevocationList never
// produces, through a hand-built TBSCertList.
func TestHandWrittenTimes(t *testing.T) {
	base := decompose(t, ecdsaIssuer().sign(t, &x509.RevocationList{}))
	tests := []struct {
		elem []byte
		want time.Time
	}{
		{utc("500101000000Z"), time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)},
		{utc("991231235959Z"), time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{utc("000101000000Z"), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{utc("491231235959Z"), time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)},
		{utc("240229120000Z"), time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)},
		{genTime("20240101000000Z"), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}, // allowed, if not recommended
		{genTime("00010101000000Z"), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{genTime("99991231235959Z"), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{genTime("20000229000000Z"), time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		p := base
		p.thisUpdate, p.nextUpdate = tt.elem, nil
		s, err := Parse(p.assemble())
		if err != nil {
			t.Errorf("%q: %v", tt.elem[2:], err)
			continue
		}
		if !s.ThisUpdate().Equal(tt.want) {
			t.Errorf("%q: ThisUpdate = %v, want %v", tt.elem[2:], s.ThisUpdate(), tt.want)
		}
	}
}

func TestContainsEdgeCases(t *testing.T) {
	long := new(big.Int).Lsh(big.NewInt(1), 8*MaxSerialLen) // MaxSerialLen+1 octets
	der := ecdsaIssuer().sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(
		big.NewInt(0), big.NewInt(1), big.NewInt(0x80), big.NewInt(-5), new(big.Int).Sub(long, big.NewInt(1)),
	)})
	s := mustParse(t, der)
	tests := []struct {
		name   string
		serial *big.Int
		want   bool
	}{
		{"nil", nil, false},
		{"zero", big.NewInt(0), true},
		{"one", big.NewInt(1), true},
		{"0x80 (DER 00 80)", big.NewInt(0x80), true},
		{"0x8000 not listed", big.NewInt(0x8000), false},
		{"negative listed in CRL", big.NewInt(-5), false},
		{"positive counterpart of a negative entry", big.NewInt(5), false},
		{"negative not listed", big.NewInt(-1), false},
		{"MaxSerialLen octets", new(big.Int).Sub(long, big.NewInt(1)), true},
		{"longer than MaxSerialLen", long, false},
	}
	for _, tt := range tests {
		if got := s.Contains(tt.serial); got != tt.want {
			t.Errorf("%s: Contains = %v, want %v", tt.name, got, tt.want)
		}
	}
	if s.Len() != 4 {
		t.Errorf("Len = %d, want 4 (negative entry not stored)", s.Len())
	}
	var nilSet *Set
	var zero Set
	if nilSet.Contains(big.NewInt(1)) || zero.Contains(big.NewInt(1)) || zero.Len() != 0 {
		t.Error("nil or zero Set is not empty")
	}
}

func TestDuplicatesKeptOnce(t *testing.T) {
	d := big.NewInt(0xabcdef)
	der := ecdsaIssuer().sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(d, big.NewInt(7), d, d)})
	s := mustParse(t, der)
	if s.Len() != 2 || !s.Contains(d) || !s.Contains(big.NewInt(7)) {
		t.Errorf("Len = %d, Contains = %v, %v", s.Len(), s.Contains(d), s.Contains(big.NewInt(7)))
	}
	// Many repeats, in groups small and large (mask 0 puts every serial in
	// one group): de-duplication takes different paths for them.
	var many []*big.Int
	for i := range 40 {
		many = append(many, big.NewInt(int64(i%5)), d)
	}
	der = ecdsaIssuer().sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(many...)})
	for _, mask := range []uint64{^uint64(0), 0} {
		s, err := parse(der, tuning{mask: mask, escape: escape})
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, s)
		if s.Len() != 6 || !s.Contains(d) || !s.Contains(big.NewInt(4)) || s.Contains(big.NewInt(5)) {
			t.Errorf("mask %x: Len = %d, want 6", mask, s.Len())
		}
	}
}

// TestForcedHashCollisions masks the hash so that all serials (mask 0) or
// many of them (mask 1, 3) collide: answers must stay exact, which proves that
// every hash hit is confirmed against the stored bytes.
func TestForcedHashCollisions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tmpl := &x509.RevocationList{}
	for range 300 {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, entries(randomSerial(rng))...)
	}
	der := ecdsaIssuer().sign(t, tmpl)
	rl, _ := x509.ParseRevocationList(der)
	want := distinctSerials(rl)
	for _, mask := range []uint64{0, 1, 3} {
		s, err := parse(der, tuning{mask: mask, escape: escape})
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, s)
		if distinct := countDistinctHashes(s); distinct > int(mask)+1 {
			t.Fatalf("mask %d: %d distinct hashes; the mask did not force collisions", mask, distinct)
		}
		if s.Len() != len(want) {
			t.Errorf("mask %d: Len = %d, want %d", mask, s.Len(), len(want))
		}
		for _, x := range want {
			if !s.Contains(x) {
				t.Errorf("mask %d: Contains(%x) = false for a listed serial", mask, x)
			}
		}
		for range 500 {
			x := randomSerial(rng)
			if _, listed := want[string(x.Bytes())]; s.Contains(x) != listed {
				t.Errorf("mask %d: Contains(%x) = %v, want %v", mask, x, !listed, listed)
			}
		}
	}
}

// countDistinctHashes returns how many different hashes the serials of s's
// table have.
func countDistinctHashes(s *Set) int {
	hashes := map[uint64]bool{}
	for _, b := range storedSerials(s) {
		if len(b) <= inlineLen {
			hashes[slotHash(s, b)] = true
		}
	}
	return len(hashes)
}

func TestContainsDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	serials := make([]*big.Int, 100)
	for i := range serials {
		serials[i] = randomSerial(rng)
	}
	s := mustParse(t, ecdsaIssuer().sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(serials...)}))
	hit, miss := serials[17], new(big.Int).Lsh(serials[17], 8)
	if !s.Contains(hit) || s.Contains(miss) {
		t.Fatal("hit/miss setup is wrong")
	}
	for name, x := range map[string]*big.Int{"hit": hit, "miss": miss} {
		if a := testing.AllocsPerRun(100, func() { s.Contains(x) }); a != 0 {
			t.Errorf("Contains (%s) allocates %v times", name, a)
		}
	}
}

func TestRetainedBytes(t *testing.T) {
	s := mustParse(t, ecdsaIssuer().sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(
		big.NewInt(1), big.NewInt(1<<40), new(big.Int).Lsh(big.NewInt(1), 150))}))
	min := 2*blockSize + len(s.RawIssuer()) // three serials take two blocks
	if got := s.RetainedBytes(); got < min || got > min+1024 {
		t.Errorf("RetainedBytes = %d, want a bit more than %d", got, min)
	}
}

// uriDP is an IssuingDistributionPoint distributionPoint [0] holding a
// fullName [0] of GeneralNames.
func uriDP(names ...[]byte) []byte { return tlv(tagExplicit0, tlv(tagExplicit0, names...)) }

// uriName is a GeneralName uniformResourceIdentifier.
func uriName(u string) []byte { return tlv(tagURI, []byte(u)) }

// TestCoverage: the scope and partition read from the IDP, by Parse and by
// ReadCoverage alike, and which certificates the CRL then covers.
func TestCoverage(t *testing.T) {
	iss := ecdsaIssuer()
	const a, b = "http://crl.example/a.crl", "http://crl.example/b.crl"
	dirName := tlv(asn1.Tag(4).Constructed().ContextSpecific(), seq())
	tests := []struct {
		name      string
		idp       []byte
		scope     Scope
		partition []string
		// covers: user certificate naming a, CA naming a, user naming b,
		// user naming nothing.
		covers [4]bool
	}{
		{"empty IDP", seq(), ScopeAll, nil, [4]bool{true, true, true, true}},
		{"user", seq(tlv(tagImplicit1, []byte{0xff})), ScopeUserCerts, nil, [4]bool{true, false, true, true}},
		{"CA (ARL)", seq(tlv(tagImplicit2, []byte{0xff})), ScopeCACerts, nil, [4]bool{false, true, false, false}},
		{"partition a", seq(uriDP(uriName(a))), ScopeAll, []string{a}, [4]bool{true, true, false, false}},
		{"partition a, b and a directory name", seq(uriDP(uriName(b), dirName, uriName(a), uriName(b))), ScopeAll, []string{a, b}, [4]bool{true, true, true, false}},
		{"user partition a", seq(uriDP(uriName(a)), tlv(tagImplicit1, []byte{0xff})), ScopeUserCerts, []string{a}, [4]bool{true, false, false, false}},
		{"explicit FALSE tolerated", seq(tlv(tagImplicit1, []byte{0x00}), tlv(tagImplicit4, []byte{0x00})), ScopeAll, nil, [4]bool{true, true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der := iss.sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(big.NewInt(7)),
				ExtraExtensions: []pkix.Extension{idpExtension(tt.idp)}})
			s := mustParse(t, der)
			if s.Scope() != tt.scope || !slices.Equal(s.Partition(), tt.partition) {
				t.Errorf("Parse: scope %v partition %q, want %v %q", s.Scope(), s.Partition(), tt.scope, tt.partition)
			}
			scope, partition, err := ReadCoverage(der)
			if err != nil || scope != tt.scope || !slices.Equal(partition, tt.partition) {
				t.Errorf("ReadCoverage: scope %v partition %q err %v, want %v %q", scope, partition, err, tt.scope, tt.partition)
			}
			got := [4]bool{s.Covers(false, []string{a}), s.Covers(true, []string{a}), s.Covers(false, []string{"ldap:///x", b}), s.Covers(false, nil)}
			if got != tt.covers {
				t.Errorf("Covers = %v, want %v", got, tt.covers)
			}
		})
	}
}

// TestReadCoverageSkipsEntries: ReadCoverage reads a CRL whose entries
// Parse refuses, and refuses what it does read as Parse does.
func TestReadCoverageSkipsEntries(t *testing.T) {
	iss := ecdsaIssuer()
	der := iss.sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(big.NewInt(1)),
		ExtraExtensions: []pkix.Extension{idpExtension(seq(tlv(tagImplicit2, []byte{0xff})))}})
	p := decompose(t, der)
	p.revoked = seq(seq(tlv(asn1.NULL)))
	bad := p.assemble()
	if _, err := Parse(bad); err == nil {
		t.Fatal("Parse accepted an entry without a serial")
	}
	if scope, _, err := ReadCoverage(bad); err != nil || scope != ScopeCACerts {
		t.Errorf("ReadCoverage = %v, %v; want onlyContainsCACerts", scope, err)
	}
	if _, _, err := ReadCoverage(der[:len(der)-1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadCoverage of a truncated CRL: %v, want ErrMalformed", err)
	}
}

func TestConcurrentContains(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	serials := make([]*big.Int, 64)
	for i := range serials {
		serials[i] = randomSerial(rng)
	}
	s := mustParse(t, ecdsaIssuer().sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(serials...)}))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				if !s.Contains(serials[(i+g)%len(serials)]) {
					t.Error("listed serial not found")
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestNumber covers cRLNumber values x509.CreateRevocationList does not make:
// none at all, and the 20-octet maximum.
func TestNumber(t *testing.T) {
	base := decompose(t, ecdsaIssuer().sign(t, &x509.RevocationList{Number: big.NewInt(7)}))
	max := append([]byte{0x7f}, bytes.Repeat([]byte{0xff}, 19)...)
	tests := []struct {
		name string
		exts []byte
		want *big.Int // nil: no number
	}{
		{"as signed", base.exts, big.NewInt(7)},
		{"absent", nil, nil},
		{"zero", crlNumberExt(tlv(asn1.INTEGER, []byte{0})), big.NewInt(0)},
		{"20 octets", crlNumberExt(tlv(asn1.INTEGER, max)), new(big.Int).SetBytes(max)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			p.exts = tt.exts
			got := mustParse(t, p.assemble()).Number()
			if (got == nil) != (tt.want == nil) || (got != nil && got.Cmp(tt.want) != 0) {
				t.Errorf("Number = %v, want %v", got, tt.want)
			}
		})
	}
}
