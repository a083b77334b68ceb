package crlset

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

const bigN = 1_000_000

// bigCRL returns a signed CRL with bigN entries and its issuer. Building it
// with x509.CreateRevocationList takes seconds, so it is cached under
// os.TempDir() (issuer certificate DER followed by CRL DER).
var bigCRL = sync.OnceValues(func() ([]byte, *x509.Certificate) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("crlset-bench-%d-v1.der", bigN))
	data, err := os.ReadFile(path)
	if err != nil {
		data = generateBigCRL(bigN)
		tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
		if os.WriteFile(tmp, data, 0o600) == nil {
			_ = os.Rename(tmp, path)
		}
	}
	in := cryptobyte.String(data)
	var certDER cryptobyte.String
	if !in.ReadASN1Element(&certDER, asn1.SEQUENCE) {
		panic("bad benchmark cache file " + path)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		panic(err)
	}
	return []byte(in), cert
})

// generateBigCRL makes n entries with random positive serials of up to 20
// octets (159 random bits, the RFC 5280 maximum), a quarter with a reason code.
func generateBigCRL(n int) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss := newIssuer("bench", "Benchmark CA", key, x509.KeyUsageCRLSign|x509.KeyUsageCertSign)
	rng := mrand.New(mrand.NewPCG(7, 8))
	limit := new(big.Int).Lsh(big.NewInt(1), 159)
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		NextUpdate:                time.Date(2025, 6, 8, 0, 0, 0, 0, time.UTC),
		RevokedCertificateEntries: make([]x509.RevocationListEntry, n),
	}
	buf := make([]byte, 20)
	for i := range tmpl.RevokedCertificateEntries {
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		e := &tmpl.RevokedCertificateEntries[i]
		e.SerialNumber = new(big.Int).Mod(new(big.Int).SetBytes(buf), limit)
		e.RevocationTime = tmpl.ThisUpdate.Add(-time.Duration(rng.IntN(1<<20)) * time.Second)
		if i%4 == 0 {
			e.ReasonCode = 1
		}
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, iss.cert, iss.key)
	if err != nil {
		panic(err)
	}
	return append(append([]byte{}, iss.cert.Raw...), der...)
}

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
	der, _ := bigCRL()
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
	der, issuer := bigCRL()
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
	der, _ := bigCRL()
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
var bigSet = sync.OnceValue(func() *Set {
	der, _ := bigCRL()
	s, err := Parse(der)
	if err != nil {
		panic(err)
	}
	return s
})

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
	s := bigSet()
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
