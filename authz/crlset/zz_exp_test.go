package crlset

import (
	"math/big"
	"testing"
)

func BenchmarkExpSmallSet(b *testing.B) {
	s := bigSet()
	serials := make([]*big.Int, 64)
	for i := range serials {
		serials[i] = new(big.Int).SetBytes(s.serial(i * 1000))
	}
	i := 0
	for b.Loop() {
		if !s.Contains(serials[i&63]) {
			b.Fatal()
		}
		i++
	}
}

func BenchmarkExpHashOnly(b *testing.B) {
	s := bigSet()
	serials := benchSerials(b, s, true)
	var buf [64]byte
	i := 0
	x := uint64(0)
	for b.Loop() {
		v := serials[i&(len(serials)-1)]
		x += s.hash(v.FillBytes(buf[:(v.BitLen()+7)/8]))
		i++
	}
	_ = x
}
