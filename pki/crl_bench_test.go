package pki

import (
	"bytes"
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
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// bigCRLEntries is the size of the CRL of the upload benchmarks: the
// million-entry CRL of docs/performance.md.
const bigCRLEntries = 1_000_000

// bigCRL returns a CRL of bigCRLEntries random 20-octet serials and its
// issuer. Signing it takes seconds, so it is cached under os.TempDir()
// (issuer certificate DER followed by CRL DER).
var bigCRL = sync.OnceValues(func() ([]byte, *x509.Certificate) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("mtlsgate-pki-bench-crl-%d-v1.der", bigCRLEntries))
	data, err := os.ReadFile(path)
	if err != nil {
		data = makeBigCRL()
		tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
		if os.WriteFile(tmp, data, 0o600) == nil {
			_ = os.Rename(tmp, path)
		}
	}
	in := cryptobyte.String(data)
	var certDER cryptobyte.String
	if !in.ReadASN1Element(&certDER, cbasn1.SEQUENCE) {
		panic("bad benchmark cache file " + path)
	}
	return []byte(in), must(x509.ParseCertificate(certDER))
})

func makeBigCRL() []byte {
	key := newECKey()
	ca := issue(caTemplate("Benchmark CA"), nil, &key.PublicKey, key)
	rng := mrand.New(mrand.NewPCG(7, 8))
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                time.Now(),
		NextUpdate:                time.Now().AddDate(10, 0, 0),
		RevokedCertificateEntries: make([]x509.RevocationListEntry, bigCRLEntries),
	}
	buf := make([]byte, 20)
	for i := range tmpl.RevokedCertificateEntries {
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		buf[0] &= 0x7f // positive
		tmpl.RevokedCertificateEntries[i] = x509.RevocationListEntry{
			SerialNumber: new(big.Int).SetBytes(buf), RevocationTime: tmpl.ThisUpdate,
		}
	}
	der := must(x509.CreateRevocationList(rand.Reader, tmpl, ca, key))
	return append(append([]byte{}, ca.Raw...), der...)
}

// BenchmarkUploadCRL1M is the validation an API upload of a million-entry
// CRL runs (store.CreateCRL): ParseVerifiedCRL with the issuer among the
// candidates, behind a CA of the same name and another key.
func BenchmarkUploadCRL1M(b *testing.B) {
	der, issuer := bigCRL()
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
	der, issuer := bigCRL()
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
