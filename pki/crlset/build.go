package crlset

import (
	"bytes"
	"cmp"
	"slices"
)

// record is one stored serial while parsing: its hash and where its
// magnitude is (in the DER while walking it, in buckets.slab afterwards).
type record struct {
	h   uint64
	off uint32
	n   uint32
}

// buckets holds the records and magnitudes grouped by the top bits of their
// hash: bucket b is recs[start[b]:start[b+1]], whose magnitudes all lie in
// slab[bytes[b]:bytes[b+1]]. The seeded hash spreads serials evenly, about 8
// per bucket, so sorting a bucket is cheap and touches one small slab region.
type buckets struct {
	recs  []record
	slab  []byte
	start []uint32
	bytes []uint32
}

// build sorts and deduplicates p.recs and packs them into p.set.
func (p *parser) build() {
	bk := p.distribute()
	p.recs = nil
	n, size := bk.sortAndCompact()
	s := p.set
	s.hashes = make([]uint64, n)
	s.offsets = make([]uint32, n+1)
	for i, r := range bk.recs[:n] {
		s.hashes[i] = r.h
		s.offsets[i] = r.off
	}
	s.offsets[n] = uint32(size)
	s.slab = bk.slab[:size]
	if cap(bk.slab)-size > size/16 { // many duplicates: do not retain the waste
		s.slab = bytes.Clone(s.slab)
	}
	s.buildPrefix()
}

// distribute moves p.recs and their magnitudes into hash-prefix buckets
// (a counting sort). It reads the DER sequentially and writes at random,
// which is much faster than the other way round for a large CRL.
func (p *parser) distribute() buckets {
	shift := 64 - sortBits(len(p.recs))
	nb := 1 << (64 - shift)
	bk := buckets{start: make([]uint32, nb+1), bytes: make([]uint32, nb+1)}
	for _, r := range p.recs {
		bk.start[r.h>>shift+1]++
		bk.bytes[r.h>>shift+1] += r.n
	}
	for b := 1; b <= nb; b++ {
		bk.start[b] += bk.start[b-1]
		bk.bytes[b] += bk.bytes[b-1]
	}
	nextRec, nextByte := slices.Clone(bk.start), slices.Clone(bk.bytes)
	bk.recs = make([]record, len(p.recs))
	bk.slab = make([]byte, bk.bytes[nb])
	for _, r := range p.recs {
		b, o := r.h>>shift, nextByte[r.h>>shift]
		copy(bk.slab[o:o+r.n], p.der[r.off:r.off+r.n])
		bk.recs[nextRec[b]] = record{h: r.h, off: o, n: r.n}
		nextRec[b]++
		nextByte[b] += r.n
	}
	return bk
}

// sortAndCompact sorts every bucket by hash then magnitude, drops duplicate
// serials, and packs the surviving records and magnitudes to the front of
// recs and slab, in order. It returns how many records and bytes survive.
func (bk *buckets) sortAndCompact() (n, size int) {
	var scratch []byte
	for b := range len(bk.start) - 1 {
		group := bk.recs[bk.start[b]:bk.start[b+1]]
		slices.SortFunc(group, bk.compare)
		group = slices.CompactFunc(group, func(x, y record) bool { return bk.compare(x, y) == 0 })
		base := bk.bytes[b]
		// Earlier buckets were packed below base, so this region is intact.
		scratch = append(scratch[:0], bk.slab[base:bk.bytes[b+1]]...)
		for _, r := range group {
			copy(bk.slab[size:], scratch[r.off-base:r.off-base+r.n])
			bk.recs[n] = record{h: r.h, off: uint32(size), n: r.n}
			n++
			size += int(r.n)
		}
	}
	return n, size
}

// compare orders records by hash, then by magnitude bytes.
func (bk *buckets) compare(x, y record) int {
	if c := cmp.Compare(x.h, y.h); c != 0 {
		return c
	}
	return bytes.Compare(bk.slab[x.off:x.off+x.n], bk.slab[y.off:y.off+y.n])
}
