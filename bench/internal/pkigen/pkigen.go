// Package pkigen makes the certificates, keys and CRLs the benchmarks
// need, outside tests (internal/testpki needs a testing.TB). Material that
// is slow to make (thousands of RSA-signed leaves, a CRL with a million
// entries) is cached under os.TempDir() and reused while it stays valid.
package pkigen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"
)

// KeyType selects a key algorithm.
type KeyType string

// Key algorithms.
const (
	ECDSA KeyType = "ecdsa-p256"
	RSA   KeyType = "rsa-2048"
)

// Cert is a certificate with its private key (nil for leaves, whose keys
// the benchmarks never use).
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

// NewKey returns a fresh key.
func NewKey(kt KeyType) (crypto.Signer, error) {
	if kt == RSA {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

var serials atomic.Int64

func init() { serials.Store(time.Now().UnixNano()) }

// NextSerial returns a process-unique positive serial number.
func NextSerial() *big.Int { return big.NewInt(serials.Add(1)) }

func create(tpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("pkigen: create %s: %w", tpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func caTemplate(cn string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          NextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"mtlsgate bench"}},
		NotBefore:             now.AddDate(-1, 0, 0),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
}

// NewRoot returns a self-signed root CA valid for ten years.
func NewRoot(cn string, kt KeyType) (*Cert, error) {
	key, err := NewKey(kt)
	if err != nil {
		return nil, err
	}
	tpl := caTemplate(cn)
	c, err := create(tpl, tpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: c, Key: key}, nil
}

// Intermediate returns a CA signed by c.
func (c *Cert) Intermediate(cn string, kt KeyType) (*Cert, error) {
	key, err := NewKey(kt)
	if err != nil {
		return nil, err
	}
	ic, err := create(caTemplate(cn), c.Cert, key.Public(), c.Key)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: ic, Key: key}, nil
}

// Leaf returns a client certificate (clientAuth EKU, valid for a year)
// for pub, signed by c. Leaves of one pool may share pub: verification
// only ever checks the issuer's signature.
func (c *Cert) Leaf(cn string, pub crypto.PublicKey) (*Cert, error) {
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber:          NextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"mtlsgate bench clients"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:              []string{cn + ".clients.bench.test"},
	}
	lc, err := create(tpl, c.Cert, pub, c.Key)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: lc}, nil
}

// Server returns a server certificate (serverAuth) for host with its own
// ECDSA key, signed by c.
func (c *Cert) Server(host string) (*Cert, error) {
	key, err := NewKey(ECDSA)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber:          NextSerial(),
		Subject:               pkix.Name{CommonName: host},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{host},
	}
	sc, err := create(tpl, c.Cert, key.Public(), c.Key)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: sc, Key: key}, nil
}

// Bundle concatenates the PEM of certs.
func Bundle(certs ...*Cert) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, c.PEM()...)
	}
	return out
}
