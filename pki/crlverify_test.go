package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/pki/crlset"
)

func TestParseVerifiedCRL(t *testing.T) {
	f := testPKI()
	crl := f.crlByInter
	for name, in := range crlInputs(crl) {
		t.Run(name, func(t *testing.T) {
			v, err := ParseVerifiedCRL([]byte(in), []*x509.Certificate{f.root, f.inter})
			if err != nil {
				t.Fatalf("ParseVerifiedCRL: %v", err)
			}
			if !bytes.Equal(v.DER, crl.Raw) || v.Issuer != f.inter {
				t.Fatalf("got another CRL or issuer (%s)", v.Issuer.Subject)
			}
			s := v.Set
			if s.Entries() != 1 || !s.Contains(f.leaf.SerialNumber) || s.Number().Cmp(crl.Number) != 0 ||
				!s.ThisUpdate().Equal(crl.ThisUpdate) || !s.NextUpdate().Equal(crl.NextUpdate) ||
				!bytes.Equal(s.RawIssuer(), crl.RawIssuer) {
				t.Fatalf("CRL facts differ from crypto/x509's: entries %d, number %v, %v – %v",
					s.Entries(), s.Number(), s.ThisUpdate(), s.NextUpdate())
			}
		})
	}
	for _, tt := range crlInputErrors(f) {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseVerifiedCRL([]byte(tt.in), []*x509.Certificate{f.inter})
			if v != nil {
				t.Error("got a CRL along with the error")
			}
			checkErr(t, err, tt.want, tt.fragments...)
			if errors.Is(err, crlset.ErrMalformed) != tt.structural {
				t.Errorf("error %q: wraps crlset.ErrMalformed = %v, want %v", err, !tt.structural, tt.structural)
			}
		})
	}
}

func TestParseVerifiedCRLIssuer(t *testing.T) {
	f := testPKI()
	got, err := ParseVerifiedCRL(f.crlByInter.Raw, []*x509.Certificate{f.root, f.impostor, nil, f.inter})
	if err != nil || got.Issuer != f.inter {
		t.Fatalf("ParseVerifiedCRL(inter's CRL) = %v, %v", got, err)
	}
	got, err = ParseVerifiedCRL(f.crlByImpostor.Raw, []*x509.Certificate{f.inter, f.impostor})
	if err != nil || got.Issuer != f.impostor {
		t.Fatalf("ParseVerifiedCRL(impostor's CRL) = %v, %v", got, err)
	}

	tests := []struct {
		name       string
		crl        *x509.RevocationList
		candidates []*x509.Certificate
		fragments  []string
	}{
		// crlset's own wording ("crlset: ...") is replaced by CRLIssuer's,
		// keeping the crypto/x509 cause.
		{"wrong key", f.crlByImpostor, []*x509.Certificate{f.root, f.inter},
			[]string{"signature does not verify with the key of issuer CN=Test Intermediate CA,O=mtlsgate test (1 uploaded", "): x509: "}},
		{"not uploaded", f.crlByRoot, []*x509.Certificate{f.inter, f.rsaRoot}, []string{"issuer CN=Test Root CA,O=mtlsgate test is not an uploaded CA"}},
		{"no candidates", f.crlByInter, nil, []string{"is not an uploaded CA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVerifiedCRL(tt.crl.Raw, tt.candidates)
			if got != nil {
				t.Error("got a CRL along with the error")
			}
			checkErr(t, err, ErrCRLIssuer, tt.fragments...)
			if strings.Contains(err.Error(), "crlset") {
				t.Errorf("error %q repeats crlset's message", err)
			}
			// The same verdict as the crypto/x509 path.
			if _, xerr := CRLIssuer(tt.crl, tt.candidates); xerr == nil || xerr.Error() != err.Error() {
				t.Errorf("CRLIssuer says %v", xerr)
			}
		})
	}
}

// TestParseVerifiedCRLIssuerConstraints: like crypto/x509, the issuer must
// be a CA allowed to sign CRLs, even when its key signed the CRL.
func TestParseVerifiedCRLIssuerConstraints(t *testing.T) {
	f := testPKI()
	noCRLSign := caTemplate("Test Intermediate CA")
	noCRLSign.KeyUsage = x509.KeyUsageCertSign
	notCA := caTemplate("Test Intermediate CA")
	notCA.IsCA, notCA.KeyUsage = false, x509.KeyUsageDigitalSignature
	for name, tmpl := range map[string]*x509.Certificate{"without cRLSign": noCRLSign, "not a CA": notCA} {
		t.Run(name, func(t *testing.T) {
			cert := issue(tmpl, f.root, &f.interKey.PublicKey, f.rootKey) // inter's name and key
			_, err := ParseVerifiedCRL(f.crlByInter.Raw, []*x509.Certificate{cert})
			checkErr(t, err, ErrCRLIssuer, "signature does not verify", "x509: ")
			if _, xerr := CRLIssuer(f.crlByInter, []*x509.Certificate{cert}); xerr == nil || xerr.Error() != err.Error() {
				t.Errorf("CRLIssuer says %v", xerr)
			}
			v, err := ParseVerifiedCRL(f.crlByInter.Raw, []*x509.Certificate{cert, f.inter})
			if err != nil || v.Issuer != f.inter {
				t.Fatalf("with inter as the next candidate: %v, %v", v, err)
			}
		})
	}
}

// TestParseVerifiedCRLRefusesWhatAuthzCannotUse: CRLs crypto/x509 parses
// but crlset refuses (so the ext_authz server could not load them) are
// refused as malformed, whoever signed them, with crlset's reason.
func TestParseVerifiedCRLRefusesWhatAuthzCannotUse(t *testing.T) {
	f := testPKI()
	one, err := asn1.Marshal(1)
	if err != nil {
		t.Fatal(err)
	}
	delta := pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: one}
	unknown := pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: one}
	tests := []struct {
		name      string
		der       []byte
		fragments []string
	}{
		{"delta CRL", signedCRL(t, f.inter, f.interKey, delta), []string{"DER input is a CRL mtlsgate cannot use", "delta"}},
		{"unknown critical extension", signedCRL(t, f.inter, f.interKey, unknown), []string{"cannot use", "1.3.6.1.4.1.99999.1"}},
		{"delta CRL of an unknown issuer", signedCRL(t, f.root, f.rootKey, delta), []string{"cannot use", "delta"}},
		{"delta CRL with a bad signature", signedCRL(t, f.impostor, f.impostorKey, delta), []string{"cannot use", "delta"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseCRL(tt.der); err != nil {
				t.Fatalf("crypto/x509 refuses the CRL too: %v", err)
			}
			for _, in := range []string{string(tt.der), pemBlock("X509 CRL", tt.der)} {
				v, err := ParseVerifiedCRL([]byte(in), []*x509.Certificate{f.inter})
				if v != nil {
					t.Error("got a CRL along with the error")
				}
				checkErr(t, err, ErrMalformed, tt.fragments[1:]...)
				if !errors.Is(err, crlset.ErrUnsupported) || !errors.Is(err, crlset.ErrMalformed) {
					t.Errorf("error %q does not wrap crlset.ErrUnsupported and crlset.ErrMalformed", err)
				}
			}
			_, err := ParseVerifiedCRL(tt.der, []*x509.Certificate{f.inter})
			checkErr(t, err, ErrMalformed, tt.fragments[0])
		})
	}
}

// signedCRL is a CRL of issuer revoking nothing, with extra extensions.
func signedCRL(t *testing.T, issuer *x509.Certificate, key crypto.Signer, exts ...pkix.Extension) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:          nextSerial(),
		ThisUpdate:      time.Now().Add(-time.Minute),
		NextUpdate:      time.Now().Add(time.Hour),
		ExtraExtensions: exts,
	}, issuer, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
