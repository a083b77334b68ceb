package crlset

import (
	"encoding/binary"
	"hash/maphash"
	"math/big"
	"math/bits"
	"slices"
	"time"
	"unsafe"
)

// MaxSerialLen is the longest serial-number magnitude, in octets, that a Set
// stores and that Contains looks up. RFC 5280 allows 20; longer ones are
// tolerated up to this limit. Parse refuses a CRL listing a longer serial, so a
// certificate with a longer serial is correctly reported as not listed.
const MaxSerialLen = 64

// Scope says which certificates a CRL covers, from the onlyContainsUserCerts
// and onlyContainsCACerts fields of its issuingDistributionPoint extension.
// A CRL says nothing about certificates outside its scope: callers must not
// treat "not in this Set" as "not revoked" for them.
type Scope uint8

const (
	// ScopeAll is a CRL without a scope restriction.
	ScopeAll Scope = iota
	// ScopeUserCerts is a CRL that only covers end-entity certificates.
	ScopeUserCerts
	// ScopeCACerts is a CRL that only covers CA certificates (an ARL).
	ScopeCACerts
)

// String returns the RFC 5280 name of the scope restriction.
func (sc Scope) String() string {
	switch sc {
	case ScopeAll:
		return "all"
	case ScopeUserCerts:
		return "onlyContainsUserCerts"
	case ScopeCACerts:
		return "onlyContainsCACerts"
	}
	return "unknown"
}

// Set is the immutable set of serial numbers revoked by one CRL, with the CRL
// facts lookups need. It is safe for concurrent use. Build it with Parse or
// ParseVerified; the zero Set is empty.
type Set struct {
	seed maphash.Seed
	mask uint64 // ANDed into every hash; all ones except in collision tests

	// Serials of at most inlineLen octets: see table.go.
	homes uint64     // number of home blocks
	table []byte     // the blocks, cache-line aligned; nil when homes is 0
	big   []bigGroup // groups too large for their header, by home

	// Longer serials, in numeric order: see long.go.
	longOffsets []uint32 // long serial i is longSlab[longOffsets[i]:longOffsets[i+1]]
	longSlab    []byte

	serials    int // distinct serials stored
	issuer     []byte
	number     []byte // cRLNumber magnitude; nil when the CRL has none
	entries    int    // revokedCertificates entries, as listed
	thisUpdate time.Time
	nextUpdate time.Time
	scope      Scope
	partition  []string // the issuingDistributionPoint's URIs; nil: no partition
}

// Contains reports whether the CRL lists serial, the serial number of a
// certificate as in x509.Certificate.SerialNumber. It does not allocate.
// A nil or negative serial (which crypto/x509 refuses in certificates) is never
// listed.
func (s *Set) Contains(serial *big.Int) bool {
	if s == nil || serial == nil || serial.Sign() < 0 {
		return false
	}
	if q, ok := keyOfWords(serial.Bits()); ok { // at most inlineLen octets: every RFC 5280 serial
		return s.containsInline(q)
	}
	n := (serial.BitLen() + 7) / 8
	if n > MaxSerialLen {
		return false // Parse refuses CRLs listing serials this long
	}
	var buf [MaxSerialLen]byte
	return s.containsLong(magnitude(&buf, serial.Bits())[MaxSerialLen-n:])
}

// magnitude writes the little-endian words of a normalised natural number of
// at most MaxSerialLen octets big-endian at the end of buf, like
// big.Int.FillBytes but a word rather than a byte at a time.
func magnitude(buf *[MaxSerialLen]byte, words []big.Word) []byte {
	end := MaxSerialLen
	for _, w := range words {
		if bits.UintSize == 64 {
			end -= 8
			binary.BigEndian.PutUint64(buf[end:], uint64(w))
		} else {
			end -= 4
			binary.BigEndian.PutUint32(buf[end:], uint32(w))
		}
	}
	return buf[:]
}

// hash returns the seeded hash of the content of a slot.
func (s *Set) hash(b []byte) uint64 { return maphash.Bytes(s.seed, b) & s.mask }

// Len returns the number of distinct serial numbers in the set: entries listed
// twice count once, and entries with a negative serial number (which can never
// match a certificate crypto/x509 accepts) are not stored and not counted.
func (s *Set) Len() int { return s.serials }

// Entries returns the number of entries in the CRL's revokedCertificates
// list, duplicates and negative serials included (compare Len).
func (s *Set) Entries() int { return s.entries }

// Number returns the CRL's cRLNumber extension (RFC 5280 5.2.3), or nil when
// the CRL has none. Each call returns a new big.Int.
func (s *Set) Number() *big.Int {
	if s.number == nil {
		return nil
	}
	return new(big.Int).SetBytes(s.number)
}

// ThisUpdate returns the CRL's thisUpdate time, in UTC.
func (s *Set) ThisUpdate() time.Time { return s.thisUpdate }

// NextUpdate returns the CRL's nextUpdate time in UTC, or the zero time when
// the CRL has none.
func (s *Set) NextUpdate() time.Time { return s.nextUpdate }

// RawIssuer returns the DER of the CRL's issuer Name, comparable byte for byte
// with x509.Certificate.RawSubject and RawIssuer. The caller must not modify it.
func (s *Set) RawIssuer() []byte { return s.issuer }

// Scope returns which kind of certificates the CRL covers.
func (s *Set) Scope() Scope { return s.scope }

// Partition returns the URIs of the distribution point the CRL is issued
// for (its issuingDistributionPoint's fullName), with scheme and host in
// lower case, sorted; nil when the CRL
// names none and so covers every certificate of its scope. The slice is
// shared: do not modify it.
func (s *Set) Partition() []string { return s.partition }

// Covers reports whether the CRL speaks for a certificate of its issuer:
// one that is a CA certificate (isCA) or not, and lists the CRL
// distribution point URIs dps (x509.Certificate.CRLDistributionPoints). Its
// scope must admit the kind, and a partition CRL covers only certificates
// that name one of its URIs (RFC 5280 6.3.3 (b)), compared exactly but for
// the case of scheme and host (RFC 5280 7.4; canonicalURI). A CRL
// that does not cover a certificate says nothing about it, revoked or not.
func (s *Set) Covers(isCA bool, dps []string) bool {
	switch {
	case s.scope == ScopeUserCerts && isCA, s.scope == ScopeCACerts && !isCA:
		return false
	case s.partition == nil:
		return true
	}
	for _, d := range dps {
		if _, found := slices.BinarySearch(s.partition, canonicalURI(d)); found {
			return true
		}
	}
	return false
}

// RetainedBytes returns approximately how many heap bytes the Set keeps alive.
// The Set shares no memory with the DER it was parsed from.
func (s *Set) RetainedBytes() int {
	return int(unsafe.Sizeof(*s)) + cap(s.table) + int(unsafe.Sizeof(bigGroup{}))*cap(s.big) +
		4*cap(s.longOffsets) + cap(s.longSlab) + cap(s.issuer) + cap(s.number)
}
