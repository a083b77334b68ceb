package crlset

import (
	"encoding/binary"
	"hash/maphash"
	"math/big"
	"math/bits"
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
	seed  maphash.Seed
	mask  uint64 // ANDed into every hash; all ones except in collision tests
	shift uint8  // 64 - number of hash bits indexing prefix

	prefix  []uint32 // hashes[prefix[b]:prefix[b+1]] all have top bits b
	hashes  []uint64 // sorted
	offsets []uint32 // serial i is slab[offsets[i]:offsets[i+1]]
	slab    []byte

	issuer     []byte
	number     []byte // cRLNumber magnitude; nil when the CRL has none
	entries    int    // revokedCertificates entries, as listed
	thisUpdate time.Time
	nextUpdate time.Time
	scope      Scope
}

// Contains reports whether the CRL lists serial, the serial number of a
// certificate as in x509.Certificate.SerialNumber. It does not allocate.
// A nil or negative serial (which crypto/x509 refuses in certificates) is never
// listed.
func (s *Set) Contains(serial *big.Int) bool {
	if s == nil || serial == nil || serial.Sign() < 0 {
		return false
	}
	n := (serial.BitLen() + 7) / 8
	if n > MaxSerialLen {
		return false // Parse refuses CRLs listing serials this long
	}
	var buf [MaxSerialLen]byte
	return s.containsBytes(magnitude(&buf, serial.Bits())[MaxSerialLen-n:])
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

// containsBytes reports whether the magnitude b (no leading zero octets) is
// stored.
func (s *Set) containsBytes(b []byte) bool {
	if len(s.hashes) == 0 {
		return false
	}
	h := s.hash(b)
	bucket := h >> s.shift
	lo, hi := int(s.prefix[bucket]), int(s.prefix[bucket+1])
	i := s.search(lo, hi, h)
	for ; i < hi && s.hashes[i] == h; i++ {
		if string(s.serial(i)) == string(b) {
			return true
		}
	}
	return false
}

// search returns the first index in [lo, hi) whose hash is >= h, or hi.
// The hashes of a bucket are spread evenly over its range, so it starts from
// an interpolated guess, typically a few entries (one cache line) from the
// answer, and walks from there. The walk is bounded by the bucket size, which
// the random seed keeps small whatever serials the CRL lists.
func (s *Set) search(lo, hi int, h uint64) int {
	frac := h << (64 - s.shift) // h's position within the bucket, out of 2^64
	i, _ := bits.Mul64(frac, uint64(hi-lo))
	j := lo + int(i)
	for j > lo && s.hashes[j-1] >= h {
		j--
	}
	for j < hi && s.hashes[j] < h {
		j++
	}
	return j
}

func (s *Set) hash(b []byte) uint64 { return maphash.Bytes(s.seed, b) & s.mask }

func (s *Set) serial(i int) []byte { return s.slab[s.offsets[i]:s.offsets[i+1]] }

// Len returns the number of distinct serial numbers in the set: entries listed
// twice count once, and entries with a negative serial number (which can never
// match a certificate crypto/x509 accepts) are not stored and not counted.
func (s *Set) Len() int { return len(s.hashes) }

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

// Scope returns which certificates the CRL covers.
func (s *Set) Scope() Scope { return s.scope }

// RetainedBytes returns approximately how many heap bytes the Set keeps alive.
// The Set shares no memory with the DER it was parsed from.
func (s *Set) RetainedBytes() int {
	return int(unsafe.Sizeof(*s)) + 4*cap(s.prefix) + 8*cap(s.hashes) +
		4*cap(s.offsets) + cap(s.slab) + cap(s.issuer) + cap(s.number)
}

// lookupBits returns how many top hash bits index the prefix table for n
// hashes: about 64 hashes per bucket, so the table takes n/16 bytes (64 KiB
// for a million serials) and stays in the CPU cache.
func lookupBits(n int) uint { return bucketBits(n, 6) }

// sortBits returns how many top hash bits Parse uses to distribute n records
// into buckets before sorting them: about 8 per bucket.
func sortBits(n int) uint { return bucketBits(n, 3) }

// bucketBits returns k such that n hashes make about 2^perBucket per bucket
// in 2^k buckets.
func bucketBits(n int, perBucket int) uint {
	k := bits.Len(uint(n))
	if k <= perBucket {
		return 0
	}
	return min(uint(k-perBucket), 24)
}

// buildPrefix fills s.prefix and s.shift from the sorted s.hashes.
func (s *Set) buildPrefix() {
	k := lookupBits(len(s.hashes))
	s.shift = uint8(64 - k)
	s.prefix = make([]uint32, 1<<k+1)
	for _, h := range s.hashes {
		s.prefix[h>>s.shift+1]++
	}
	for b := 1; b < len(s.prefix); b++ {
		s.prefix[b] += s.prefix[b-1]
	}
}
