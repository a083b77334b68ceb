package testpki

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"
)

var bigCRLs sync.Map // n → *bigCRL

type bigCRL struct {
	once   sync.Once
	der    []byte
	issuer *x509.Certificate
	err    error
}

// BigCRL returns a CRL of n entries and the certificate of the CA that
// signed it, for benchmarks: random positive serials of up to 20 octets
// (159 random bits, the RFC 5280 maximum), a quarter of them with a reason
// code. Signing a million entries takes seconds, so the pair is cached under
// os.TempDir() (issuer DER followed by CRL DER) and shared by every package
// and run; within a process it is made once per n.
func BigCRL(t TB, n int) (der []byte, issuer *x509.Certificate) {
	t.Helper()
	v, _ := bigCRLs.LoadOrStore(n, &bigCRL{})
	c := v.(*bigCRL)
	c.once.Do(func() { c.der, c.issuer, c.err = loadBigCRL(t, n) })
	if c.err != nil {
		t.Fatalf("testpki: big CRL: %v", c.err)
	}
	return c.der, c.issuer
}

// loadBigCRL reads the cached CRL of n entries, or makes and caches it.
func loadBigCRL(t TB, n int) ([]byte, *x509.Certificate, error) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("mtlsgate-testpki-crl-%d-v1.der", n))
	data, err := os.ReadFile(path)
	if err != nil {
		data = makeBigCRL(t, n)
		tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
		if os.WriteFile(tmp, data, 0o600) == nil {
			_ = os.Rename(tmp, path)
		}
	}
	var cert asn1.RawValue
	rest, err := asn1.Unmarshal(data, &cert)
	if err != nil {
		return nil, nil, fmt.Errorf("cache file %s: %w", path, err)
	}
	issuer, err := x509.ParseCertificate(cert.FullBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("cache file %s: %w", path, err)
	}
	return rest, issuer, nil
}

// makeBigCRL signs the CRL of BigCRL with a new root and returns the root's
// DER followed by the CRL's.
func makeBigCRL(t TB, n int) []byte {
	ca := NewRoot(t, "Benchmark CRL CA", Options{})
	rng := mrand.New(mrand.NewPCG(7, 8))
	limit := new(big.Int).Lsh(big.NewInt(1), 159)
	tpl := &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		NextUpdate:                time.Date(2025, 6, 8, 0, 0, 0, 0, time.UTC),
		RevokedCertificateEntries: make([]x509.RevocationListEntry, n),
	}
	buf := make([]byte, 20)
	for i := range tpl.RevokedCertificateEntries {
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		e := &tpl.RevokedCertificateEntries[i]
		e.SerialNumber = new(big.Int).Mod(new(big.Int).SetBytes(buf), limit)
		e.RevocationTime = tpl.ThisUpdate.Add(-time.Duration(rng.IntN(1<<20)) * time.Second)
		if i%4 == 0 {
			e.ReasonCode = 1
		}
	}
	der, err := x509.CreateRevocationList(rand.Reader, tpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatalf("testpki: big CRL: %v", err)
	}
	return bytes.Join([][]byte{ca.Cert.Raw, der}, nil)
}
