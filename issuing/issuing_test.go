package issuing_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/issuing"
)

func newCA(t *testing.T, cn string, days int, now time.Time) *issuing.CA {
	t.Helper()
	ca, keyPEM, err := issuing.NewCA(cn, days, now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := issuing.LoadCA(ca.CertPEM, keyPEM)
	if err != nil {
		t.Fatalf("LoadCA of NewCA's output: %v", err)
	}
	return again
}

// TestNewCA: the CA certificate's fields, with and without a name and
// lifetime, and the refusals of bad ones.
func TestNewCA(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	for _, tc := range []struct {
		cn, wantCN string
		days       int
		want       time.Duration
	}{
		{"", issuing.DefaultCAName, 0, 3650 * 24 * time.Hour},
		{"Example Corp users", "Example Corp users", 30, 30 * 24 * time.Hour},
	} {
		ca := newCA(t, tc.cn, tc.days, now)
		c := ca.Cert
		if c.Subject.CommonName != tc.wantCN || c.Issuer.CommonName != tc.wantCN {
			t.Errorf("subject %q issuer %q, want %q", c.Subject, c.Issuer, tc.wantCN)
		}
		if !c.BasicConstraintsValid || !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
			t.Errorf("basic constraints: CA %v pathlen %d zero %v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
		}
		if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
			t.Errorf("key usage %b", c.KeyUsage)
		}
		if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
			t.Errorf("key %T, want ECDSA P-256", c.PublicKey)
		}
		if got := c.NotAfter.Sub(now); got != tc.want {
			t.Errorf("lifetime %s, want %s", got, tc.want)
		}
		if err := c.CheckSignatureFrom(c); err != nil {
			t.Errorf("not self-signed: %v", err)
		}
		if len(c.SubjectKeyId) == 0 {
			t.Error("no subject key id")
		}
	}
	for _, bad := range []struct {
		cn   string
		days int
	}{{" padded", 0}, {"tab\there", 0}, {string(bytes.Repeat([]byte("a"), 65)), 0}, {"", -1}, {"", issuing.MaxCADays + 1}} {
		if _, _, err := issuing.NewCA(bad.cn, bad.days, now); !errors.Is(err, issuing.ErrInvalid) {
			t.Errorf("NewCA(%q, %d) = %v, want ErrInvalid", bad.cn, bad.days, err)
		}
	}
}

// csrFor returns a PEM CSR signed by key.
func csrFor(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// TestIssue: an issued certificate's fields, read back with crypto/x509,
// and its chain verified for client authentication.
func TestIssue(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	ca := newCA(t, "", 0, now)
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pub, err := issuing.ParseCSR(csrFor(t, key), 0)
	if err != nil {
		t.Fatal(err)
	}
	const crlURL = "https://mtlsgate.example.com/crl/issuing.crl"
	c, err := ca.Issue(issuing.Request{Identity: "alice@example.com/x", PublicKey: pub, CRLURL: crlURL, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "alice@example.com/x" || c.Issuer.String() != ca.Cert.Subject.String() {
		t.Errorf("subject %s issuer %s", c.Subject, c.Issuer)
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != "urn:mtlsgate:identity:alice@example.com%2Fx" {
		t.Errorf("URI SANs %v", c.URIs)
	}
	if len(c.DNSNames)+len(c.EmailAddresses)+len(c.IPAddresses) != 0 {
		t.Errorf("other SANs: %v %v %v", c.DNSNames, c.EmailAddresses, c.IPAddresses)
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("EKU %v key usage %b", c.ExtKeyUsage, c.KeyUsage)
	}
	if c.IsCA || !bytes.Equal(c.AuthorityKeyId, ca.Cert.SubjectKeyId) {
		t.Errorf("CA %v AKI %x want %x", c.IsCA, c.AuthorityKeyId, ca.Cert.SubjectKeyId)
	}
	if len(c.CRLDistributionPoints) != 1 || c.CRLDistributionPoints[0] != crlURL {
		t.Errorf("CRL DPs %v", c.CRLDistributionPoints)
	}
	if !c.NotBefore.Equal(now.Add(-time.Minute)) || !c.NotAfter.Equal(now.Add(90*24*time.Hour)) {
		t.Errorf("validity %s to %s", c.NotBefore, c.NotAfter)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %s", c.SerialNumber)
	}
	if !key.PublicKey.Equal(c.PublicKey) {
		t.Error("the certificate does not carry the CSR's key")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify for clientAuth: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("verified for serverAuth")
	}
}

// TestIssueLifetime: the default, a chosen one, the CA's end as a cap, and
// refusals.
func TestIssueLifetime(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	ca := newCA(t, "", 30, now)
	key, _ := issuing.NewKey()
	for _, tc := range []struct {
		days int
		want time.Time
	}{{7, now.Add(7 * 24 * time.Hour)}, {0, ca.Cert.NotAfter}, {365, ca.Cert.NotAfter}} {
		c, err := ca.Issue(issuing.Request{Identity: "bob", PublicKey: key.Public(), Days: tc.days, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if !c.NotAfter.Equal(tc.want) {
			t.Errorf("days %d: notAfter %s, want %s", tc.days, c.NotAfter, tc.want)
		}
		if len(c.CRLDistributionPoints) != 0 {
			t.Errorf("CRL DP without a URL: %v", c.CRLDistributionPoints)
		}
	}
	for _, days := range []int{-1, issuing.MaxDays + 1} {
		if _, err := ca.Issue(issuing.Request{Identity: "bob", PublicKey: key.Public(), Days: days, Now: now}); !errors.Is(err, issuing.ErrInvalid) {
			t.Errorf("days %d: %v, want ErrInvalid", days, err)
		}
	}
	if _, err := ca.Issue(issuing.Request{Identity: "bob", PublicKey: key.Public(), Now: now.Add(31 * 24 * time.Hour)}); !errors.Is(err, issuing.ErrExpired) {
		t.Errorf("after the CA's end: %v, want ErrExpired", err)
	}
}

// TestParseCSR: the keys accepted and every refusal, a bad signature among
// them.
func TestParseCSR(t *testing.T) {
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for name, key := range map[string]crypto.Signer{"ecdsa p-256": ec256, "rsa 2048": rsa2048, "ed25519": ed} {
		pub, err := issuing.ParseCSR(csrFor(t, key), 0)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
			t.Errorf("%s: another key came back", name)
		}
	}
	good := csrFor(t, ec256)
	block, _ := pem.Decode(good)
	badSig := bytes.Clone(block.Bytes)
	badSig[len(badSig)-3] ^= 0x55
	for name, data := range map[string][]byte{
		"bad signature": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: badSig}),
		"p-224":         csrFor(t, ec224),
		"rsa 1024":      csrFor(t, rsa1024),
		"not pem":       block.Bytes,
		"certificate":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}),
		"trailing data": append(bytes.Clone(good), "junk"...),
		"garbage DER":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 1, 2, 3}}),
		"too large":     append(bytes.Clone(good), bytes.Repeat([]byte("\n"), issuing.MaxCSRBytes)...),
		"empty":         nil,
	} {
		if _, err := issuing.ParseCSR(data, 0); !errors.Is(err, issuing.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := issuing.ParseCSR(good, len(good)-1); !errors.Is(err, issuing.ErrInvalid) {
		t.Errorf("over the caller's bound: %v", err)
	}
}

// TestCRL: entries, number and the update times, verified with the CA.
func TestCRL(t *testing.T) {
	now := time.Now().Truncate(time.Second).UTC()
	ca := newCA(t, "", 0, now)
	revoked := []issuing.Revoked{{Serial: big.NewInt(0xABCDEF), RevokedAt: now.Add(-time.Hour)}, {Serial: big.NewInt(7), RevokedAt: now}}
	der, err := ca.CRL(revoked, 42, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("signature: %v", err)
	}
	if crl.Number.Int64() != 42 || !crl.ThisUpdate.Equal(now) || !crl.NextUpdate.Equal(now.Add(issuing.DefaultCRLPeriod)) {
		t.Errorf("number %s this %s next %s", crl.Number, crl.ThisUpdate, crl.NextUpdate)
	}
	if len(crl.RevokedCertificateEntries) != 2 || crl.RevokedCertificateEntries[0].SerialNumber.Int64() != 0xABCDEF {
		t.Errorf("entries %+v", crl.RevokedCertificateEntries)
	}
	if !bytes.Equal(crl.AuthorityKeyId, ca.Cert.SubjectKeyId) {
		t.Error("AKI is not the CA's key id")
	}
	der, err = ca.CRL(nil, 43, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if crl, _ = x509.ParseRevocationList(der); len(crl.RevokedCertificateEntries) != 0 || !crl.NextUpdate.Equal(now.Add(time.Hour)) {
		t.Errorf("empty CRL: %d entries, next %s", len(crl.RevokedCertificateEntries), crl.NextUpdate)
	}
}

// TestLoadCARefusesAMismatchedKey: a key of another CA is refused.
func TestLoadCARefusesAMismatchedKey(t *testing.T) {
	now := time.Now()
	a, _, _ := issuing.NewCA("", 0, now)
	_, otherKey, _ := issuing.NewCA("", 0, now)
	if _, err := issuing.LoadCA(a.CertPEM, otherKey); err == nil {
		t.Error("a CA loaded with another CA's key")
	}
}

func TestRandomPassword(t *testing.T) {
	a, b := issuing.RandomPassword(), issuing.RandomPassword()
	if len(a) != 26 || a == b {
		t.Errorf("passwords %q %q", a, b)
	}
	if err := issuing.CheckPassword(a); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"new\nline", string(bytes.Repeat([]byte("p"), issuing.MaxPasswordBytes+1))} {
		if err := issuing.CheckPassword(bad); !errors.Is(err, issuing.ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
