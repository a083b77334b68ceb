package crlset

import (
	"crypto/x509"
	"math/big"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

const bigN = 1_000_000

// bigCRL returns the benchmark CRL of bigN entries and its issuer
// (testpki.BigCRL: cached across runs and packages).
func bigCRL(b *testing.B) ([]byte, *x509.Certificate) { return testpki.BigCRL(b, bigN) }

// heapGrowth returns how many bytes of live heap f's result keeps.
func heapGrowth(f func() any) (any, uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return v, after.HeapAlloc - before.HeapAlloc
}

func BenchmarkParse1M(b *testing.B) {
	der, _ := bigCRL(b)
	b.SetBytes(int64(len(der)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(der); err != nil {
			b.Fatal(err)
		}
	}
	v, heap := heapGrowth(func() any { s, _ := Parse(der); return s })
	b.ReportMetric(float64(v.(*Set).RetainedBytes())/1e6, "retained-MB")
	b.ReportMetric(float64(heap)/1e6, "heap-MB")
	b.ReportMetric(float64(v.(*Set).Len()), "serials")
}

func BenchmarkParseVerified1M(b *testing.B) {
	der, issuer := bigCRL(b)
	b.SetBytes(int64(len(der)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseVerified(der, issuer); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkX509ParseRevocationList1M is the baseline: the standard parser on
// the same CRL.
func BenchmarkX509ParseRevocationList1M(b *testing.B) {
	der, _ := bigCRL(b)
	b.SetBytes(int64(len(der)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x509.ParseRevocationList(der); err != nil {
			b.Fatal(err)
		}
	}
	_, heap := heapGrowth(func() any { rl, _ := x509.ParseRevocationList(der); return rl })
	b.ReportMetric(float64(heap)/1e6, "heap-MB")
}

// bigSet is the Set of bigCRL, parsed once for the lookup benchmarks.
var bigSet struct {
	once sync.Once
	set  *Set
}

func bigSetOf(b *testing.B) *Set {
	bigSet.once.Do(func() {
		der, _ := bigCRL(b)
		s, err := Parse(der)
		if err != nil {
			b.Fatal(err)
		}
		bigSet.set = s
	})
	return bigSet.set
}

// benchSerials returns 65536 serials: stored ones (hit) or random ones that
// are not stored (miss).
func benchSerials(b *testing.B, s *Set, hit bool) []*big.Int {
	rng := mrand.New(mrand.NewPCG(9, 10))
	out := make([]*big.Int, 1<<16)
	if hit {
		ranks := make([]int, len(out))
		for i := range ranks {
			ranks[i] = rng.IntN(s.Len())
		}
		for i, b := range serialsAt(s, ranks) {
			out[i] = new(big.Int).SetBytes(b)
		}
		return out
	}
	buf := make([]byte, 20)
	for i := range out {
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		out[i] = new(big.Int).SetBytes(buf[:19])
		if s.Contains(out[i]) {
			b.Fatal("random serial is listed")
		}
	}
	return out
}

func benchmarkContains(b *testing.B, hit bool, working int) {
	s := bigSetOf(b)
	serials := benchSerials(b, s, hit)[:working]
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if s.Contains(serials[i&(working-1)]) != hit {
			b.Fatal("wrong answer")
		}
		i++
	}
}

// BenchmarkContainsHit and BenchmarkContainsMiss query 65536 different
// serials at random positions of the 1M-serial Set: nearly every lookup misses
// the CPU caches, the worst case.
func BenchmarkContainsHit(b *testing.B)  { benchmarkContains(b, true, 1<<16) }
func BenchmarkContainsMiss(b *testing.B) { benchmarkContains(b, false, 1<<16) }

// BenchmarkContainsHitCached and BenchmarkContainsMissCached query 16 serials
// over and over, as when the same clients reconnect: the lines they touch stay
// in the CPU caches.
func BenchmarkContainsHitCached(b *testing.B)  { benchmarkContains(b, true, 16) }
func BenchmarkContainsMissCached(b *testing.B) { benchmarkContains(b, false, 16) }
