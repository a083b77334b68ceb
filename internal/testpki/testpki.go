// Package testpki makes real certificates, keys and CRLs for tests and
// benchmarks: CA hierarchies, client and server leaves in ECDSA or RSA,
// with the validity windows and extended key usages a test asks for.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"sync/atomic"
	"time"
)

// TB is what the package needs of testing.TB, so that tools outside tests
// (the benchmark harness) can make certificates with it too.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// KeyType selects the key algorithm.
type KeyType int

// Key algorithms.
const (
	ECDSA KeyType = iota // P-256
	RSA                  // 2048-bit
)

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// PEM returns the certificate as PEM.
func (c *Cert) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM returns the private key as PKCS#8 PEM.
func (c *Cert) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Options shape a certificate. Zero values give a sensible default.
type Options struct {
	Key       KeyType
	NotBefore time.Time // default: an hour ago
	NotAfter  time.Time // default: in a year
	// EKU is the extended key usage list; nil means clientAuth for leaves,
	// none for CAs. Set NoEKU to leave the extension out of a leaf.
	EKU   []x509.ExtKeyUsage
	NoEKU bool
	DNS   []string
	URIs  []string
	Email []string
	// IPs are IP address SANs.
	IPs []string
	// Serial, when set, is used instead of a fresh one.
	Serial *big.Int
	// CRLDPs are the certificate's cRLDistributionPoints URIs.
	CRLDPs []string
	// OCSP are the OCSP responder URLs of its Authority Information Access.
	OCSP []string
	// PublicKey, for a leaf, is certified instead of a fresh key, whose
	// making dominates the cost of thousands of RSA leaves; the returned
	// Cert then has no private key.
	PublicKey crypto.PublicKey
}

var serials atomic.Int64

func init() { serials.Store(time.Now().UnixNano()) }

func newKey(t TB, kt KeyType) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	if kt == RSA {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatalf("testpki: key: %v", err)
	}
	return k
}

func template(cn string, o Options) *x509.Certificate {
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber:   o.Serial,
		Subject:        pkix.Name{CommonName: cn, Organization: []string{"mtlsgate test"}},
		NotBefore:      o.NotBefore,
		NotAfter:       o.NotAfter,
		DNSNames:       o.DNS,
		EmailAddresses: o.Email,

		CRLDistributionPoints: o.CRLDPs,
		OCSPServer:            o.OCSP,
	}
	for _, ip := range o.IPs {
		tpl.IPAddresses = append(tpl.IPAddresses, net.ParseIP(ip))
	}
	if tpl.SerialNumber == nil {
		tpl.SerialNumber = big.NewInt(serials.Add(1))
	}
	if tpl.NotBefore.IsZero() {
		tpl.NotBefore = now.Add(-time.Hour)
	}
	if tpl.NotAfter.IsZero() {
		tpl.NotAfter = now.Add(365 * 24 * time.Hour)
	}
	return tpl
}

func sign(t TB, tpl *x509.Certificate, parent *Cert, key crypto.Signer) *Cert {
	t.Helper()
	return signKey(t, tpl, parent, key.Public(), key)
}

// signKey certifies pub, whose private key is key (nil when unknown).
func signKey(t TB, tpl *x509.Certificate, parent *Cert, pub crypto.PublicKey, key crypto.Signer) *Cert {
	t.Helper()
	issuer, signer := tpl, key
	if parent != nil {
		issuer, signer = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, issuer, pub, signer)
	if err != nil {
		t.Fatalf("testpki: create %s: %v", tpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parse: %v", err)
	}
	return &Cert{Cert: c, Key: key}
}

// caWindow gives CAs the long validity real CAs have (from five years ago
// to ten years ahead), unless the options set one.
func caWindow(o Options) Options {
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.AddDate(-5, 0, 0)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.AddDate(10, 0, 0)
	}
	return o
}

// NewRoot returns a self-signed root CA.
func NewRoot(t TB, cn string, o Options) *Cert {
	t.Helper()
	tpl := template(cn, caWindow(o))
	tpl.IsCA, tpl.BasicConstraintsValid = true, true
	tpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	tpl.ExtKeyUsage = o.EKU
	return sign(t, tpl, nil, newKey(t, o.Key))
}

// Intermediate returns a CA signed by c.
func (c *Cert) Intermediate(t TB, cn string, o Options) *Cert {
	t.Helper()
	tpl := template(cn, caWindow(o))
	tpl.IsCA, tpl.BasicConstraintsValid = true, true
	tpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	tpl.ExtKeyUsage = o.EKU
	return sign(t, tpl, c, newKey(t, o.Key))
}

// Leaf returns an end-entity certificate signed by c; by default a client
// certificate (clientAuth EKU).
func (c *Cert) Leaf(t TB, cn string, o Options) *Cert {
	t.Helper()
	tpl := template(cn, o)
	clientTemplate(tpl, o)
	for _, u := range o.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatalf("testpki: uri %q: %v", u, err)
		}
		tpl.URIs = append(tpl.URIs, pu)
	}
	if o.PublicKey != nil {
		return signKey(t, tpl, c, o.PublicKey, nil)
	}
	return sign(t, tpl, c, newKey(t, o.Key))
}

// Server returns a server certificate for hosts, signed by c.
func (c *Cert) Server(t TB, hosts ...string) *Cert {
	t.Helper()
	return c.Leaf(t, hosts[0], Options{DNS: hosts, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
}

// NotCA returns a self-signed certificate with basicConstraints CA=false.
func NotCA(t TB, cn string) *Cert {
	t.Helper()
	tpl := template(cn, Options{})
	tpl.BasicConstraintsValid = true
	return sign(t, tpl, nil, newKey(t, ECDSA))
}

// CRL returns a DER CRL signed by c revoking serials.
func (c *Cert) CRL(t TB, number int64, thisUpdate, nextUpdate time.Time, serials ...*big.Int) []byte {
	t.Helper()
	return c.ScopedCRL(t, CRLScope{}, number, thisUpdate, nextUpdate, serials...)
}

// CRLScope is what a CRL's issuingDistributionPoint limits it to. The
// zero value writes no issuingDistributionPoint.
type CRLScope struct {
	UserCerts, CACerts bool     // onlyContainsUserCerts, onlyContainsCACerts
	URIs               []string // the distributionPoint's fullName URIs
}

// ScopedCRL returns a DER CRL signed by c revoking serials, limited to
// scope by a critical issuingDistributionPoint.
func (c *Cert) ScopedCRL(t TB, scope CRLScope, number int64, thisUpdate, nextUpdate time.Time, serials ...*big.Int) []byte {
	t.Helper()
	tpl := &x509.RevocationList{
		Number:     big.NewInt(number),
		ThisUpdate: thisUpdate,
		NextUpdate: nextUpdate,
	}
	if idp := scope.extension(t); idp != nil {
		tpl.ExtraExtensions = []pkix.Extension{*idp}
	}
	for _, s := range serials {
		tpl.RevokedCertificateEntries = append(tpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tpl, c.Cert, c.Key)
	if err != nil {
		t.Fatalf("testpki: CRL: %v", err)
	}
	return der
}

// extension encodes the issuingDistributionPoint (RFC 5280 5.2.5), nil for
// the zero scope.
func (s CRLScope) extension(t TB) *pkix.Extension {
	var fields []byte
	if len(s.URIs) > 0 {
		var names []byte
		for _, u := range s.URIs {
			names = append(names, marshalTagged(t, 6, false, []byte(u))...) // uniformResourceIdentifier [6]
		}
		fullName := marshalTagged(t, 0, true, names)                    // fullName [0] GeneralNames
		fields = append(fields, marshalTagged(t, 0, true, fullName)...) // distributionPoint [0]
	}
	if s.UserCerts {
		fields = append(fields, marshalTagged(t, 1, false, []byte{0xff})...)
	}
	if s.CACerts {
		fields = append(fields, marshalTagged(t, 2, false, []byte{0xff})...)
	}
	if fields == nil {
		return nil
	}
	v, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: fields})
	if err != nil {
		t.Fatalf("testpki: issuingDistributionPoint: %v", err)
	}
	return &pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 28}, Critical: true, Value: v}
}

// marshalTagged encodes a context-specific [tag] element holding b.
func marshalTagged(t TB, tag int, compound bool, b []byte) []byte {
	out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: compound, Bytes: b})
	if err != nil {
		t.Fatalf("testpki: DER: %v", err)
	}
	return out
}

// Bundle concatenates the PEM of certs.
func Bundle(certs ...*Cert) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, c.PEM()...)
	}
	return out
}

// Reissue returns another certificate of c's CA: the same subject (byte
// for byte) and key, a new serial, signed by by, or self-signed when by is
// nil. With by nil for a root it is a renewed root; with another CA as by
// it is a cross-signed certificate of c's CA.
func (c *Cert) Reissue(t TB, by *Cert, o Options) *Cert {
	t.Helper()
	tpl := template(c.Cert.Subject.CommonName, caWindow(o))
	tpl.RawSubject = c.Cert.RawSubject
	tpl.IsCA, tpl.BasicConstraintsValid = true, true
	tpl.KeyUsage = c.Cert.KeyUsage
	der, err := x509.CreateCertificate(rand.Reader, tpl, parentOf(tpl, by), c.Key.Public(), signerOf(c, by))
	if err != nil {
		t.Fatalf("testpki: reissue %s: %v", c.Cert.Subject.CommonName, err)
	}
	out, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parse: %v", err)
	}
	return &Cert{Cert: out, Key: c.Key}
}

func parentOf(tpl *x509.Certificate, by *Cert) *x509.Certificate {
	if by == nil {
		return tpl
	}
	return by.Cert
}

func signerOf(c, by *Cert) crypto.Signer {
	if by == nil {
		return c.Key
	}
	return by.Key
}

// CRLWithoutNumber returns a version 1 DER CRL signed by c (an ECDSA CA)
// revoking serials: no extensions, so no CRL number, which
// x509.CreateRevocationList cannot make.
func (c *Cert) CRLWithoutNumber(t TB, thisUpdate, nextUpdate time.Time, serials ...*big.Int) []byte {
	t.Helper()
	type entry struct {
		Serial *big.Int
		Date   time.Time
	}
	type tbs struct {
		Algorithm  pkix.AlgorithmIdentifier
		Issuer     asn1.RawValue
		ThisUpdate time.Time
		NextUpdate time.Time
		Revoked    []entry `asn1:"optional,omitempty"`
	}
	alg := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}} // ecdsa-with-SHA256
	body := tbs{Algorithm: alg, Issuer: asn1.RawValue{FullBytes: c.Cert.RawSubject},
		ThisUpdate: thisUpdate.UTC(), NextUpdate: nextUpdate.UTC()}
	for _, s := range serials {
		body.Revoked = append(body.Revoked, entry{s, thisUpdate.UTC()})
	}
	tbsDER, err := asn1.Marshal(body)
	if err != nil {
		t.Fatalf("testpki: CRL: %v", err)
	}
	if _, ok := c.Key.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("testpki: CRLWithoutNumber needs an ECDSA CA")
	}
	sum := sha256.Sum256(tbsDER)
	sig, err := c.Key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("testpki: CRL: %v", err)
	}
	der, err := asn1.Marshal(struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: tbsDER}, alg, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		t.Fatalf("testpki: CRL: %v", err)
	}
	return der
}

// SelfSigned returns a self-signed client certificate (not a CA), with the
// clientAuth EKU unless o says otherwise: what a PKI-less client makes.
func SelfSigned(t TB, cn string, o Options) *Cert {
	t.Helper()
	tpl := template(cn, o)
	clientTemplate(tpl, o)
	return sign(t, tpl, nil, newKey(t, o.Key))
}

// clientTemplate makes tpl a client certificate's: not a CA, for digital
// signatures, with the EKU o asks for (default clientAuth).
func clientTemplate(tpl *x509.Certificate, o Options) {
	tpl.BasicConstraintsValid = true
	tpl.KeyUsage = x509.KeyUsageDigitalSignature
	switch {
	case o.NoEKU:
	case o.EKU != nil:
		tpl.ExtKeyUsage = o.EKU
	default:
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
}
