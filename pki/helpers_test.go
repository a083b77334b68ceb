package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fixture is a small test PKI, generated once per test binary.
type fixture struct {
	// ECDSA P-256 hierarchy: root -> inter -> leaf.
	rootKey, interKey, leafKey *ecdsa.PrivateKey
	root, inter, leaf          *x509.Certificate

	// RSA-2048 hierarchy: rsaRoot -> rsaLeaf, and an Ed25519 leaf under it.
	rsaRootKey, rsaLeafKey *rsa.PrivateKey
	rsaRoot, rsaLeaf       *x509.Certificate
	edLeafKey              ed25519.PrivateKey
	edLeaf                 *x509.Certificate

	// Odd certificates, all issued by root unless said otherwise.
	nonCA         *x509.Certificate // basicConstraints CA=false
	noBC          *x509.Certificate // no basicConstraints extension
	noCertSign    *x509.Certificate // CA=true, keyUsage without keyCertSign
	expired       *x509.Certificate // leaf, expired, key leafKey
	selfSigned    *x509.Certificate // self-signed CA:TRUE server cert, like openssl req -x509
	selfSignedKey *ecdsa.PrivateKey
	impostorKey   *ecdsa.PrivateKey
	impostor      *x509.Certificate // self-signed, same subject as inter, other key

	otherECKey *ecdsa.PrivateKey // matches no certificate
	x25519Key  *ecdh.PrivateKey

	// CRLs.
	crlByInter    *x509.RevocationList // issued by inter, revokes leaf
	crlByImpostor *x509.RevocationList // claims inter as issuer, signed by impostorKey
	crlByRoot     *x509.RevocationList
}

var serialCounter atomic.Int64

func nextSerial() *big.Int { return big.NewInt(1000 + serialCounter.Add(1)) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func caTemplate(cn string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"mtlsgate test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

func leafTemplate(cn string, dns ...string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              dns,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// issue signs tmpl with signer as parent (tmpl itself when parent is nil).
func issue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	if parent == nil {
		parent = tmpl
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer))
	return must(x509.ParseCertificate(der))
}

func newECKey() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) }

func newCRL(issuer *x509.Certificate, signer crypto.Signer, revoked ...*x509.Certificate) *x509.RevocationList {
	now := time.Now()
	tmpl := &x509.RevocationList{
		Number:     nextSerial(),
		ThisUpdate: now.Add(-time.Minute),
		NextUpdate: now.Add(time.Hour),
	}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: c.SerialNumber, RevocationTime: now.Add(-time.Minute),
		})
	}
	der := must(x509.CreateRevocationList(rand.Reader, tmpl, issuer, signer))
	return must(x509.ParseRevocationList(der))
}

var testPKI = sync.OnceValue(func() *fixture {
	f := &fixture{}
	f.rootKey, f.interKey, f.leafKey = newECKey(), newECKey(), newECKey()
	f.root = issue(caTemplate("Test Root CA"), nil, &f.rootKey.PublicKey, f.rootKey)
	f.inter = issue(caTemplate("Test Intermediate CA"), f.root, &f.interKey.PublicKey, f.rootKey)
	f.leaf = issue(leafTemplate("www.example.com", "www.example.com", "*.api.example.com"), f.inter, &f.leafKey.PublicKey, f.interKey)

	f.rsaRootKey = must(rsa.GenerateKey(rand.Reader, 2048))
	f.rsaLeafKey = must(rsa.GenerateKey(rand.Reader, 2048))
	f.rsaRoot = issue(caTemplate("Test RSA Root CA"), nil, &f.rsaRootKey.PublicKey, f.rsaRootKey)
	f.rsaLeaf = issue(leafTemplate("rsa.example.com", "rsa.example.com"), f.rsaRoot, &f.rsaLeafKey.PublicKey, f.rsaRootKey)
	var edPub ed25519.PublicKey
	edPub, f.edLeafKey = must2(ed25519.GenerateKey(rand.Reader))
	f.edLeaf = issue(leafTemplate("ed.example.com", "ed.example.com"), f.rsaRoot, edPub, f.rsaRootKey)

	f.nonCA = issue(leafTemplate("Not A CA", "client.example.com"), f.root, &newECKey().PublicKey, f.rootKey)
	noBC := leafTemplate("No Basic Constraints")
	noBC.BasicConstraintsValid = false
	f.noBC = issue(noBC, f.root, &newECKey().PublicKey, f.rootKey)
	noCertSign := caTemplate("No CertSign CA")
	noCertSign.KeyUsage = x509.KeyUsageDigitalSignature
	f.noCertSign = issue(noCertSign, f.root, &newECKey().PublicKey, f.rootKey)
	expired := leafTemplate("expired.example.com", "expired.example.com")
	expired.NotBefore = time.Now().Add(-48 * time.Hour)
	expired.NotAfter = time.Now().Add(-24 * time.Hour)
	f.expired = issue(expired, f.inter, &f.leafKey.PublicKey, f.interKey)
	f.selfSignedKey = newECKey()
	ss := caTemplate("self.example.com")
	ss.DNSNames = []string{"self.example.com"}
	f.selfSigned = issue(ss, nil, &f.selfSignedKey.PublicKey, f.selfSignedKey)
	f.impostorKey = newECKey()
	f.impostor = issue(caTemplate("Test Intermediate CA"), nil, &f.impostorKey.PublicKey, f.impostorKey)

	f.otherECKey = newECKey()
	f.x25519Key = must(ecdh.X25519().GenerateKey(rand.Reader))

	f.crlByInter = newCRL(f.inter, f.interKey, f.leaf)
	f.crlByImpostor = newCRL(f.impostor, f.impostorKey, f.leaf)
	f.crlByRoot = newCRL(f.root, f.rootKey, f.inter)
	return f
})

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// pemOf encodes certificates as PEM.
func pemOf(certs ...*x509.Certificate) string { return EncodePEM(certs) }

func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func pkcs8PEM(key any) string { return pemBlock("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(key))) }

func pkcs1PEM(key *rsa.PrivateKey) string {
	return pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
}

func sec1PEM(key *ecdsa.PrivateKey) string {
	return pemBlock("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(key)))
}

func crlPEM(crl *x509.RevocationList) string { return pemBlock("X509 CRL", crl.Raw) }

// secrets returns the base64 bodies of every private key of the fixture, in
// every encoding the tests use.
var secrets = sync.OnceValue(func() []string {
	f := testPKI()
	var out []string
	for _, p := range []string{
		pkcs8PEM(f.rootKey), pkcs8PEM(f.interKey), pkcs8PEM(f.leafKey), sec1PEM(f.leafKey),
		pkcs8PEM(f.rsaRootKey), pkcs1PEM(f.rsaRootKey), pkcs8PEM(f.rsaLeafKey), pkcs1PEM(f.rsaLeafKey),
		pkcs8PEM(f.edLeafKey), pkcs8PEM(f.selfSignedKey), sec1PEM(f.selfSignedKey),
		pkcs8PEM(f.otherECKey), sec1PEM(f.otherECKey), pkcs8PEM(f.x25519Key),
	} {
		var body strings.Builder
		for _, line := range strings.Split(p, "\n") {
			if !strings.HasPrefix(line, "-----") {
				body.WriteString(line)
			}
		}
		out = append(out, body.String())
	}
	return out
})

var sentinels = []error{ErrEmpty, ErrMalformed, ErrPrivateKey, ErrNotCA, ErrKeyMismatch, ErrCRLIssuer, ErrHostname, ErrPKCS12Password}

// checkSentinel fails unless err wraps exactly one sentinel.
func checkSentinel(t testing.TB, err error) {
	t.Helper()
	var n int
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("error %q wraps %d sentinel errors, want exactly 1", err, n)
	}
}

// checkNoSecret fails if err's message contains any 12-character piece of
// the base64 encoding of a fixture private key.
func checkNoSecret(t testing.TB, err error) {
	t.Helper()
	msg := err.Error()
	for _, s := range secrets() {
		for i := 0; i+12 <= len(s); i += 4 {
			if strings.Contains(msg, s[i:i+12]) {
				t.Fatalf("error message contains private key material: %q", msg)
			}
		}
	}
}

// checkErr asserts err wraps want (and no other sentinel), that its message
// contains every fragment, and that it leaks no key material.
func checkErr(t testing.TB, err, want error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q does not wrap %v", err, want)
	}
	checkSentinel(t, err)
	for _, fr := range fragments {
		if !strings.Contains(err.Error(), fr) {
			t.Errorf("error %q does not mention %q", err, fr)
		}
	}
	checkNoSecret(t, err)
}

// sameDERs reports whether two certificate lists have the same encodings.
func sameDERs(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Raw) {
			return false
		}
	}
	return true
}
