package crlset

import (
	"bytes"
	"cmp"
	"slices"
)

// Serials longer than inlineLen octets (RFC 5280 forbids them, a few CAs
// issue them anyway) do not fit in a slot. They are kept apart, packed back
// to back in numeric order in Set.longSlab with Set.longOffsets delimiting
// them, and found by binary search. No hash is involved, so their lookups
// cannot be slowed down by collisions; they cost about log2(n) cache misses,
// which only matters for the rare CRL that lists many of them.

// containsLong reports whether the magnitude b, longer than inlineLen octets
// and without leading zero octets, is stored.
func (s *Set) containsLong(b []byte) bool {
	lo, hi := 0, s.longLen()
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if compareMagnitudes(s.longSerial(mid), b) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo < s.longLen() && string(s.longSerial(lo)) == string(b)
}

// longLen returns how many long serials are stored.
func (s *Set) longLen() int { return max(len(s.longOffsets)-1, 0) }

// longSerial returns the i-th long serial in numeric order.
func (s *Set) longSerial(i int) []byte {
	return s.longSlab[s.longOffsets[i]:s.longOffsets[i+1]]
}

// compareMagnitudes orders magnitudes without leading zero octets
// numerically: shorter first, then byte by byte.
func compareMagnitudes(a, b []byte) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return bytes.Compare(a, b)
}

// buildLong sorts and de-duplicates p.long and packs it into p.set.
func (p *parser) buildLong() {
	if len(p.long) == 0 {
		return
	}
	mag := func(r record) []byte { return p.der[r.off : r.off+r.n] }
	slices.SortFunc(p.long, func(x, y record) int { return compareMagnitudes(mag(x), mag(y)) })
	p.long = slices.CompactFunc(p.long, func(x, y record) bool { return bytes.Equal(mag(x), mag(y)) })
	size := 0
	for _, r := range p.long {
		size += int(r.n)
	}
	s := p.set
	s.longOffsets = make([]uint32, 0, len(p.long)+1)
	s.longSlab = make([]byte, 0, size)
	for _, r := range p.long {
		s.longOffsets = append(s.longOffsets, uint32(len(s.longSlab)))
		s.longSlab = append(s.longSlab, mag(r)...)
	}
	s.longOffsets = append(s.longOffsets, uint32(len(s.longSlab)))
	p.long = nil
}
