package pki

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
)

func TestParseCRL(t *testing.T) {
	f := testPKI()
	crl := f.crlByInter
	for name, in := range crlInputs(crl) {
		t.Run(name, func(t *testing.T) {
			got, err := ParseCRL([]byte(in))
			if err != nil {
				t.Fatalf("ParseCRL: %v", err)
			}
			if !bytes.Equal(got.Raw, crl.Raw) {
				t.Fatal("parsed a different CRL")
			}
			if len(got.RevokedCertificateEntries) != 1 || got.RevokedCertificateEntries[0].SerialNumber.Cmp(f.leaf.SerialNumber) != 0 {
				t.Fatalf("revoked entries = %v", got.RevokedCertificateEntries)
			}
		})
	}

	for _, tt := range crlInputErrors(f) {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCRL([]byte(tt.in))
			if got != nil {
				t.Error("got a CRL along with the error")
			}
			checkErr(t, err, tt.want, tt.fragments...)
		})
	}
}

// crlInputs are the accepted encodings of crl.
func crlInputs(crl *x509.RevocationList) map[string]string {
	return map[string]string{
		"DER":                   string(crl.Raw),
		"PEM":                   crlPEM(crl),
		"PEM with text":         "Certificate Revocation List (CRL):\n  issuer=x\n" + crlPEM(crl) + "\n# end\n",
		"PEM with CRLF endings": strings.ReplaceAll(crlPEM(crl), "\n", "\r\n"),
	}
}

// crlInputError is an input that ParseCRL and ParseVerifiedCRL refuse
// before looking for an issuer.
type crlInputError struct {
	name      string
	in        string
	want      error
	fragments []string
	// structural: the DER was handed to the CRL parser, whose error is
	// wrapped (crlset.ErrMalformed for ParseVerifiedCRL).
	structural bool
}

func crlInputErrors(f *fixture) []crlInputError {
	crl := f.crlByInter
	p := crlPEM(crl)
	return []crlInputError{
		{"empty", "", ErrEmpty, nil, false},
		{"whitespace", "\n \n", ErrEmpty, nil, false},
		{"DER trailing data", string(crl.Raw) + "\x00", ErrMalformed, []string{"DER", "trailing"}, true},
		{"DER truncated", string(crl.Raw[:len(crl.Raw)-1]), ErrMalformed, []string{"DER"}, true},
		{"DER certificate", string(f.root.Raw), ErrMalformed, []string{"DER"}, true},
		{"DER private key", string(must(x509.MarshalPKCS8PrivateKey(f.interKey))), ErrPrivateKey, []string{"DER"}, false},
		{"PEM private key", p + pkcs8PEM(f.interKey), ErrPrivateKey, []string{"PEM block #2"}, false},
		{"two CRLs", p + crlPEM(f.crlByRoot), ErrMalformed, []string{"found 2", "exactly one"}, false},
		{"certificate block", pemOf(f.inter), ErrMalformed, []string{"PEM block #1", `"CERTIFICATE"`, "expected X509 CRL"}, false},
		{"CRL then certificate", p + pemOf(f.inter), ErrMalformed, []string{"PEM block #2", `"CERTIFICATE"`}, false},
		{"truncated PEM", p[:len(p)/2], ErrMalformed, []string{"PEM block #1", "truncated"}, false},
		{"garbage in PEM", pemBlock("X509 CRL", []byte("garbage")), ErrMalformed, []string{"PEM block #1", "not a valid CRL"}, true},
		{"trailing data in PEM", pemBlock("X509 CRL", append(append([]byte{}, crl.Raw...), 0)), ErrMalformed, []string{"PEM block #1", "trailing"}, true},
		{"PEM headers", "-----BEGIN X509 CRL-----\nProc-Type: 4,ENCRYPTED\n\n" + strings.SplitN(p, "\n", 2)[1], ErrMalformed, []string{"headers"}, false},
		{"plain text", "not a crl", ErrMalformed, []string{"neither PEM nor"}, false},
	}
}

func TestCRLIssuer(t *testing.T) {
	f := testPKI()
	t.Run("found", func(t *testing.T) {
		got, err := CRLIssuer(f.crlByInter, []*x509.Certificate{f.root, f.impostor, nil, f.inter})
		if err != nil {
			t.Fatal(err)
		}
		if got != f.inter {
			t.Fatalf("issuer = %s", got.Subject)
		}
		got, err = CRLIssuer(f.crlByImpostor, []*x509.Certificate{f.inter, f.impostor})
		if err != nil || got != f.impostor {
			t.Fatalf("CRLIssuer(impostor CRL) = %v, %v", got, err)
		}
	})
	tests := []struct {
		name       string
		crl        *x509.RevocationList
		candidates []*x509.Certificate
		fragments  []string
	}{
		{"wrong key", f.crlByImpostor, []*x509.Certificate{f.root, f.inter}, []string{"signature does not verify", "CN=Test Intermediate CA,O=mtlsgate test"}},
		{"not uploaded", f.crlByRoot, []*x509.Certificate{f.inter, f.rsaRoot}, []string{"issuer CN=Test Root CA,O=mtlsgate test is not an uploaded CA"}},
		{"no candidates", f.crlByInter, nil, []string{"is not an uploaded CA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CRLIssuer(tt.crl, tt.candidates)
			if got != nil {
				t.Error("got an issuer along with the error")
			}
			checkErr(t, err, ErrCRLIssuer, tt.fragments...)
		})
	}
	_, err := CRLIssuer(nil, []*x509.Certificate{f.root})
	checkErr(t, err, ErrEmpty)
}
