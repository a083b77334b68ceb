package crlset

import (
	"cmp"
	"encoding/binary"
	"math/big"
	"math/bits"
	"slices"
	"unsafe"
)

// The table: serials of at most inlineLen octets, stored in place in blocks of
// one cache line each (see "Representation" in doc.go).
//
//	block k = header (4 bytes) | slot 0 | slot 1 | slot 2   (20 bytes each)
//
// A slot holds a serial's value as inlineLen octets, least significant first
// and zero-padded (the value 0 is the all-zero slot): read as little-endian
// words, a slot is the words big.Int.Bits returns, so Contains compares a slot
// with a query without converting the query to octets. Every serial has a home block, chosen by its seeded
// hash; the serials of home k (group k) occupy consecutive slots starting in
// block k or, when earlier groups spilled into block k, a little after it.
// There are more slots than serials (see loadNum), so spills stay short: most
// groups lie entirely in their home block, and a lookup reads one cache line.
const (
	inlineLen     = 20 // RFC 5280's longest serial number; longer ones are in Set.long*
	blockSize     = 64 // bytes: one cache line on the machines we run on
	headerSize    = 4
	slotsPerBlock = (blockSize - headerSize) / inlineLen // 3; the 64 bytes are all used
)

// Header k says where group k is. skip and count are what lookups that leave
// block k use; inBlock and spills are precomputed from them at build time so
// that the common lookup needs no arithmetic on them.
const (
	skipMask     = 0xff              // bits 0-7: first slot of group k, from block k's first slot
	countShift   = 8                 // bits 8-15: number of serials in group k
	inBlockShift = 16                // bits 16-18: bit 16+j set if slot j of block k is in group k
	inBlock      = 1 << inBlockShift // the bit for slot 0
	spills       = 1 << 19           // group k has serials outside block k, or is escaped
	// Bits 20-31 are zero.

	// escape in both skip and count means the group did not fit in 8 bits
	// (a skip or count of escape or more): it is in Set.big. That only
	// happens when many serials share a home, which the random seed makes
	// vanishingly unlikely (for a million random serials the largest skip is
	// 12 and the largest count 11) but forced collisions in tests can cause.
	escape = 0xff
)

// loadNum/loadDen is the fraction of slots in use: 0.6, so 1,000,000 serials
// take 555,556 blocks (35.6 MB) and 85% of serials, and the groups of 84% of
// absent serials, lie within their home block: a lookup reads one cache line.
// Denser tables spill more (0.75: 28 MB, 69%), and a spill costs a second
// memory access; sparser ones cost memory for little (0.5: 43 MB, 91%). (On
// the noisy VM the benchmarks ran on, lookups measured the same from 0.5 to
// 0.8: the difference is below its noise, not absent.)
const loadNum, loadDen = 3, 5

// homeBlocks returns how many home blocks n serials get.
func homeBlocks(n int) uint64 {
	per := slotsPerBlock * loadNum // serials per block, times loadDen
	return uint64((n*loadDen + per - 1) / per)
}

// bigGroup is where a group that does not fit in its header is.
type bigGroup struct{ home, start, count uint32 }

// key is the content of a slot as the words Contains compares: the serial's
// value, least significant bits in lo.
type key struct {
	lo, mid uint64
	hi      uint32
}

// keyOfWords returns the key of the natural number with the given words (as
// big.Int.Bits returns them), or false if it needs more than inlineLen octets.
func keyOfWords(w []big.Word) (key, bool) {
	if bits.UintSize == 32 {
		return keyOfWords32(w)
	}
	switch len(w) {
	case 0:
		return key{}, true
	case 1:
		return key{lo: uint64(w[0])}, true
	case 2:
		return key{lo: uint64(w[0]), mid: uint64(w[1])}, true
	case 3:
		return key{uint64(w[0]), uint64(w[1]), uint32(w[2])}, uint64(w[2])>>32 == 0
	}
	return key{}, false
}

// keyOfWords32 is keyOfWords for 32-bit words.
func keyOfWords32(w []big.Word) (key, bool) {
	var v [6]uint64
	if len(w) > 5 {
		return key{}, false
	}
	for i, x := range w {
		v[i] = uint64(x) & 0xffff_ffff
	}
	return key{v[1]<<32 | v[0], v[3]<<32 | v[2], uint32(v[4])}, true
}

// bytes returns k as slot content.
func (k key) bytes() (b [inlineLen]byte) {
	binary.LittleEndian.PutUint64(b[0:], k.lo)
	binary.LittleEndian.PutUint64(b[8:], k.mid)
	binary.LittleEndian.PutUint32(b[16:], k.hi)
	return b
}

// keyOf returns the key a slot holds.
func keyOf(b *[inlineLen]byte) key {
	return key{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint32(b[16:])}
}

// home returns the home block of hash h: the top bits of h scaled to
// [0, s.homes) (Lemire's multiply-shift, no division).
func (s *Set) home(h uint64) uint64 {
	k, _ := bits.Mul64(h, s.homes)
	return k
}

// block returns block k of the table.
func (s *Set) block(k uint64) *[blockSize]byte {
	return (*[blockSize]byte)(s.table[k*blockSize : k*blockSize+blockSize])
}

// header returns block k's header.
func (s *Set) header(k uint64) uint32 { return binary.LittleEndian.Uint32(s.block(k)[:]) }

// slot returns slot i of the table, counted from the first slot of block 0.
func (s *Set) slot(i uint64) *[inlineLen]byte {
	off := i/slotsPerBlock*blockSize + headerSize + i%slotsPerBlock*inlineLen
	return (*[inlineLen]byte)(s.table[off : off+inlineLen])
}

// containsInline reports whether a serial of at most inlineLen octets, q, is
// stored. It is written for the common case, group k within block k: it
// compares all three slots of block k with q and masks out those outside the
// group, without branching on the slots' contents. Which slot holds a serial
// is random, so such a branch would often be mispredicted, and a
// misprediction resolved only when the cache line arrives discards the work
// the CPU had started meanwhile (on the caller's next steps, or next lookup).
func (s *Set) containsInline(q key) bool {
	if s.homes == 0 {
		return false
	}
	b := q.bytes()
	k := s.home(s.hash(b[:]))
	blk := s.block(k)
	h := binary.LittleEndian.Uint32(blk[:])
	out := ^h >> inBlockShift // bit j set: slot j is outside group k
	m := min(slotDiff(blk, 0, q)|uint64(out&1),
		slotDiff(blk, 1, q)|uint64(out>>1&1),
		slotDiff(blk, 2, q)|uint64(out>>2&1))
	if m == 0 {
		return true
	}
	if h&spills == 0 {
		return false // the whole group is in block k: not listed
	}
	return s.containsSpilled(k, q)
}

// slotDiff returns 0 if slot j of blk holds q, something else otherwise.
func slotDiff(blk *[blockSize]byte, j int, q key) uint64 {
	o := headerSize + j*inlineLen
	// Parenthesised: ^ and | have the same precedence in Go.
	return (binary.LittleEndian.Uint64(blk[o:]) ^ q.lo) |
		(binary.LittleEndian.Uint64(blk[o+8:]) ^ q.mid) |
		uint64(binary.LittleEndian.Uint32(blk[o+16:])^q.hi)
}

// containsSpilled reports whether group k, which does not lie entirely in
// block k, holds q. It reads the group from its first slot (rechecking the
// block k slots, which are in the cache, is simpler than skipping them).
func (s *Set) containsSpilled(k uint64, q key) bool {
	start, n := s.group(k)
	for i := start; i < start+n; i++ {
		if keyOf(s.slot(i)) == q {
			return true
		}
	}
	return false
}

// group returns the slots [start, start+n) of group k.
func (s *Set) group(k uint64) (start, n uint64) {
	h := s.header(k)
	skip, count := h&skipMask, h>>countShift&0xff
	if skip != escape {
		return k*slotsPerBlock + uint64(skip), uint64(count)
	}
	i, _ := slices.BinarySearchFunc(s.big, k, func(g bigGroup, k uint64) int {
		return cmp.Compare(uint64(g.home), k)
	})
	return uint64(s.big[i].start), uint64(s.big[i].count)
}

// makeHeader returns the header of a group of count serials whose first
// slot is skip slots after its home block's first; skip and count are less
// than escape, or both escape.
func makeHeader(skip, count uint64) uint32 {
	h := uint32(skip | count<<countShift)
	if skip == escape || skip+count > slotsPerBlock {
		h |= spills
	}
	for j := range uint64(slotsPerBlock) {
		if skip <= j && j < skip+count && skip != escape {
			h |= inBlock << j
		}
	}
	return h
}

// alignedBlocks returns n zeroed blocks whose first byte is at an address
// that is a multiple of blockSize, so that every block is one cache line.
// Allocations of 32 KiB and more are page-aligned anyway; smaller tables
// waste at most 63 bytes.
func alignedBlocks(n uint64) []byte {
	if n == 0 {
		return nil
	}
	b := make([]byte, n*blockSize+blockSize-1)
	off := -uintptr(unsafe.Pointer(unsafe.SliceData(b))) % blockSize
	return b[off : off+uintptr(n*blockSize)]
}
