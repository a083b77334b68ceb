package crlset

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sort"
)

// record is one serial while parsing: where its magnitude is in the DER and,
// for those of at most inlineLen octets, the hash of its slot content.
type record struct {
	h   uint64
	off uint32
	n   uint32
}

// build packs p.recs into the table and p.long into the long serials, in
// three passes over the serials:
//
//  1. count the serials of each home and lay the groups out as if no serial
//     were listed twice (layout);
//  2. copy every serial into the next free slot of its group (scatter): the
//     records, and so the DER, are read in order and the table written at
//     random, which is much faster than the other way round for a large CRL;
//  3. sort each group, drop repeated serials, and slide the group down to
//     where it belongs now that the groups before it may have shrunk
//     (compact); write its header.
//
// The table is sized for the serials as listed, repeats included: they are
// rare, and a CRL listing many is no larger than one listing as many
// different serials.
func (p *parser) build() {
	s := p.set
	s.homes = homeBlocks(len(p.recs))
	starts := p.layout()
	ends := slices.Clone(starts)
	p.scatter(ends)
	p.recs = nil
	s.serials = p.compact(starts, ends)
	p.buildLong()
	s.serials += s.longLen()
}

// layout allocates the table and returns the first slot of every group for
// the serials of p.recs, repeats included, and, last, the end of the groups.
func (p *parser) layout() []uint32 {
	s := p.set
	starts := make([]uint32, s.homes+1)
	for _, r := range p.recs {
		starts[s.home(r.h)]++ // counts, for now
	}
	next := uint64(0)
	for k := range s.homes {
		n := uint64(starts[k])
		starts[k] = uint32(groupStart(next, k))
		next = uint64(starts[k]) + n
	}
	starts[s.homes] = uint32(next)
	s.table = alignedBlocks(max(s.homes, (next+slotsPerBlock-1)/slotsPerBlock))
	return starts
}

// groupStart returns the first slot of group k when the previous groups end
// before slot next: its home block's first slot, or next if they spilled
// into it. Groups therefore never start before their home block, which is
// why a lookup never has to read an earlier block.
func groupStart(next, k uint64) uint64 { return max(next, k*slotsPerBlock) }

// scatter copies every serial of p.recs into slot next[k] of its group k,
// and advances next[k].
func (p *parser) scatter(next []uint32) {
	s := p.set
	for _, r := range p.recs {
		k := s.home(r.h)
		*s.slot(uint64(next[k])) = slotBytes(p.der[r.off : r.off+r.n])
		next[k]++
	}
}

// compact de-duplicates every group k, found in slots [starts[k], ends[k]),
// moves it to its final place and writes its header. It returns how many
// serials remain. Groups only move down (fewer serials before them), and in
// home order, so a group never overwrites one that has not moved yet.
func (p *parser) compact(starts, ends []uint32) int {
	s := p.set
	next, total := uint64(0), 0
	for k := range s.homes {
		lo, hi := uint64(starts[k]), uint64(ends[k])
		if lo == hi {
			continue // header 0: skip 0, count 0
		}
		n := p.dedupe(lo, hi-lo)
		start := groupStart(next, k)
		for i := range n {
			*s.slot(start + i) = *s.slot(lo + i)
		}
		for i := start + n; i < hi; i++ {
			*s.slot(i) = [inlineLen]byte{} // vacated: nothing stale in the table
		}
		p.setHeader(k, start, n)
		next, total = start+n, total+int(n)
	}
	return total
}

// dedupe packs the distinct values of slots [lo, lo+n) at lo and returns
// how many there are. Lookups do not care about the order within a group.
func (p *parser) dedupe(lo, n uint64) uint64 {
	if n > 8 {
		return p.dedupeSorted(lo, n)
	}
	// Groups hold about two serials: comparing every pair is cheapest.
	s, w := p.set, lo+1
	for i := lo + 1; i < lo+n; i++ {
		j := lo
		for j < w && *s.slot(j) != *s.slot(i) {
			j++
		}
		if j == w { // not seen before
			*s.slot(w) = *s.slot(i)
			w++
		}
	}
	return min(n, w-lo)
}

// dedupeSorted is dedupe for large groups (forced collisions in tests, or
// one serial listed many times): it sorts them, so that a CRL listing one
// serial a million times stays fast.
func (p *parser) dedupeSorted(lo, n uint64) uint64 {
	s := p.set
	p.sorter = slotSorter{s: s, lo: lo, n: int(n)}
	sort.Sort(&p.sorter) // a pointer into p: no allocation per group
	w := lo
	for i := lo + 1; i < lo+n; i++ {
		if *s.slot(i) != *s.slot(w) {
			w++
			*s.slot(w) = *s.slot(i)
		}
	}
	return w - lo + 1
}

// slotSorter sorts n slots from slot lo by content.
type slotSorter struct {
	s  *Set
	lo uint64
	n  int
}

func (x *slotSorter) Len() int { return x.n }

func (x *slotSorter) Less(i, j int) bool {
	return bytes.Compare(x.s.slot(x.lo + uint64(i))[:], x.s.slot(x.lo + uint64(j))[:]) < 0
}

func (x *slotSorter) Swap(i, j int) {
	a, b := x.s.slot(x.lo+uint64(i)), x.s.slot(x.lo+uint64(j))
	*a, *b = *b, *a
}

// setHeader writes the header of block k for a group of n serials from slot
// start, or records the group in s.big when its skip or count does not fit.
// The uint32 conversions cannot overflow: a CRL is at most 4 GiB and an
// entry at least 20 bytes, so there are fewer than 2^28 serials and 2^30 slots.
func (p *parser) setHeader(k, start, n uint64) {
	s := p.set
	skip := start - k*slotsPerBlock
	if skip >= p.escape || n >= p.escape {
		s.big = append(s.big, bigGroup{home: uint32(k), start: uint32(start), count: uint32(n)})
		skip, n = escape, escape
	}
	binary.LittleEndian.PutUint32(s.block(k)[:], makeHeader(skip, n))
}

// slotBytes returns the slot content for the magnitude mag (big-endian, at
// most inlineLen octets): the same octets in reverse order, zero-padded.
func slotBytes(mag []byte) [inlineLen]byte { return keyOfMagnitude(mag).bytes() }

// keyOfMagnitude returns the key of the magnitude mag (big-endian, at most
// inlineLen octets). Padding then reading words is much faster than
// reversing the octets one by one, and has no data-dependent branch.
func keyOfMagnitude(mag []byte) key {
	var be [inlineLen]byte
	copy(be[inlineLen-len(mag):], mag)
	return key{binary.BigEndian.Uint64(be[12:]), binary.BigEndian.Uint64(be[4:]), binary.BigEndian.Uint32(be[0:])}
}
