package crlset

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestParseVerified(t *testing.T) {
	ec, rs, ed := ecdsaIssuer(), rsaIssuer(), ed25519Issuer()
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// Same name as ec, different key.
	impostor := newIssuer("impostor", "ECDSA test CA", otherKey, x509.KeyUsageCRLSign|x509.KeyUsageCertSign)
	// Same key as ec, different name.
	renamed := newIssuer("renamed", "Renamed CA", ec.key, x509.KeyUsageCRLSign|x509.KeyUsageCertSign)
	// Same key and name as ec, but not allowed to sign CRLs.
	noCRLSign := newIssuer("no-crlsign", "ECDSA test CA", ec.key, x509.KeyUsageCertSign)

	serials := entries(big.NewInt(1), big.NewInt(0x80), big.NewInt(1<<62))
	sign := func(iss *testIssuer, alg x509.SignatureAlgorithm) []byte {
		return iss.sign(t, &x509.RevocationList{RevokedCertificateEntries: serials, SignatureAlgorithm: alg})
	}
	ecDER := sign(ec, 0)
	// Change revoked serial 1<<62 into 1<<62 + 1: still well-formed.
	tampered := append([]byte{}, ecDER...)
	i := bytes.Index(tampered, []byte{2, 8, 0x40, 0, 0, 0, 0, 0, 0, 0})
	tampered[i+9] = 1

	tests := []struct {
		name    string
		der     []byte
		issuer  *x509.Certificate
		wantErr string // "" for success
	}{
		{"ECDSA", ecDER, ec.cert, ""},
		{"ECDSA SHA-384", sign(ec, x509.ECDSAWithSHA384), ec.cert, ""},
		{"RSA PKCS#1 v1.5", sign(rs, x509.SHA256WithRSA), rs.cert, ""},
		{"RSA-PSS", sign(rs, x509.SHA256WithRSAPSS), rs.cert, ""},
		{"Ed25519", sign(ed, 0), ed.cert, ""},
		{"wrong key, same name", ecDER, impostor.cert, "CRL signature does not verify"},
		{"wrong key type", ecDER, rs.cert, "CRL signature does not verify"},
		{"same key, other name", ecDER, renamed.cert, "issuer Name differs"},
		{"issuer without cRLSign", ecDER, noCRLSign.cert, "CRL signature does not verify"},
		{"nil issuer", ecDER, nil, "nil issuer"},
		{"malformed", ecDER[:10], ec.cert, ErrMalformed.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseVerified(tt.der, tt.issuer)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseVerified: %v", err)
				}
				if s.Len() != 3 || !s.Contains(big.NewInt(0x80)) {
					t.Errorf("Len = %d", s.Len())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(tt.wantErr, "signature") && errors.Is(err, ErrMalformed) {
				t.Errorf("signature failure %v wraps ErrMalformed", err)
			}
		})
	}

	t.Run("tampered", func(t *testing.T) {
		s, err := Parse(tampered)
		if err != nil || !s.Contains(big.NewInt(1<<62+1)) {
			t.Fatalf("tampering went wrong: %v", err)
		}
		if _, err := ParseVerified(tampered, ec.cert); err == nil || errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseVerified(tampered) = %v, want a signature error", err)
		}
	})
}

func TestSignatureAlgorithmUnknown(t *testing.T) {
	p := decompose(t, ecdsaIssuer().sign(t, &x509.RevocationList{}))
	p.sigAlg = seq(tlv(6, []byte{0x2a, 0x03, 0x04}))
	p.outerAlg = p.sigAlg
	der := p.assemble()
	if _, err := Parse(der); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	_, err := ParseVerified(der, ecdsaIssuer().cert)
	if !errors.Is(err, x509.ErrUnsupportedAlgorithm) {
		t.Errorf("ParseVerified: %v, want ErrUnsupportedAlgorithm", err)
	}
}
