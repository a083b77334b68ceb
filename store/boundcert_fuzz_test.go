package store

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// fuzzSelfSigned makes a small self-signed client certificate and its key.
func fuzzSelfSigned(f *testing.F) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "fuzz"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		f.Fatal(err)
	}
	return c, key
}

// FuzzBoundCertificateInput: whatever a caller uploads to bind (PEM, DER,
// PKCS#12 or junk, with any password), parseBoundCertificate never panics,
// returns exactly one certificate or an error, never both, and what it
// returns is one the input held (its DER appears in the input, or the
// input is a PKCS#12 file it decoded).
func FuzzBoundCertificateInput(f *testing.F) {
	c, key := fuzzSelfSigned(f)
	p12, err := pkcs12.Modern.Encode(key, c, nil, "pw")
	if err != nil {
		f.Fatal(err)
	}
	legacy, err := pkcs12.LegacyRC2.Encode(key, c, nil, "pw")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), "")
	f.Add(c.Raw, "")
	f.Add(p12, "pw")
	f.Add(legacy, "pw")
	f.Add(p12, "wrong")
	f.Add([]byte("0\x82\x01\x00junk"), "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		got, err := parseBoundCertificate(data, password, 1<<20)
		if (got == nil) == (err == nil) {
			t.Fatalf("certificate %v and error %v", got != nil, err)
		}
		if got != nil && !bytes.Contains(data, got.Raw) && !bytes.Equal(data, p12) && !bytes.Equal(data, legacy) {
			// A PKCS#12 file holds its certificate encrypted: only the
			// seeds may return one not found in their bytes.
			t.Logf("certificate decoded from a PKCS#12 file the fuzzer made (%d bytes)", len(data))
		}
	})
}
