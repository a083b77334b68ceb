package internalca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/mtlsgate/mtlsgate/internalca"
)

// FuzzParseCSR: a signing request from the network never panics the
// parser, every refusal is ErrBadCSR, and an accepted one has a key Envoy
// can use and a valid self-signature.
func FuzzParseCSR(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	f.Add(pemOf("CERTIFICATE REQUEST", der))
	f.Add(pemOf("CERTIFICATE", der))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		csr, err := internalca.ParseCSR(b)
		if err != nil {
			if !errors.Is(err, internalca.ErrBadCSR) {
				t.Fatalf("refusal %v is not ErrBadCSR", err)
			}
			return
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("accepted a CSR whose signature fails: %v", err)
		}
	})
}
