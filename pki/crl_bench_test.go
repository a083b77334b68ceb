package pki

import (
	"bytes"
	"crypto/x509"
	"runtime"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// bigCRL returns the million-entry CRL of docs/performance.md and its
// issuer (testpki.BigCRL: cached across runs and packages).
func bigCRL(b *testing.B) ([]byte, *x509.Certificate) { return testpki.BigCRL(b, 1_000_000) }

// BenchmarkUploadCRL1M is the validation an API upload of a million-entry
// CRL runs (store.CreateCRL): ParseVerifiedCRL with the issuer among the
// candidates, behind a CA of the same name and another key.
func BenchmarkUploadCRL1M(b *testing.B) {
	der, issuer := bigCRL(b)
	candidates := []*x509.Certificate{testPKI().root, sameNameOtherKey(issuer), issuer}
	b.SetBytes(int64(len(der)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseVerifiedCRL(der, candidates); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(retainedMB(func() any { v, _ := ParseVerifiedCRL(der, candidates); return v }), "retained-MB")
}

// BenchmarkUploadCRL1MX509 is the same validation the crypto/x509 way
// (ParseCRL then CRLIssuer), what the store ran before crlset.
func BenchmarkUploadCRL1MX509(b *testing.B) {
	der, issuer := bigCRL(b)
	candidates := []*x509.Certificate{testPKI().root, sameNameOtherKey(issuer), issuer}
	b.SetBytes(int64(len(der)))
	b.ReportAllocs()
	for b.Loop() {
		crl, err := ParseCRL(der)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := CRLIssuer(crl, candidates); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(retainedMB(func() any { crl, _ := ParseCRL(der); return crl }), "retained-MB")
}

// retainedMB returns how many MB of live heap f's result keeps: what an
// upload holds while the store records the CRL.
func retainedMB(f func() any) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / 1e6
}

// sameNameOtherKey is a self-signed CA with the subject of c and a new key.
func sameNameOtherKey(c *x509.Certificate) *x509.Certificate {
	key := newECKey()
	tmpl := caTemplate("")
	tmpl.Subject = c.Subject
	other := issue(tmpl, nil, &key.PublicKey, key)
	if !bytes.Equal(other.RawSubject, c.RawSubject) {
		panic("sameNameOtherKey: the subject was encoded differently")
	}
	return other
}
