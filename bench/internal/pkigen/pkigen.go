// Package pkigen makes the certificates, keys and CRLs the benchmarks
// need, with internal/testpki outside tests: its failures become errors.
// Material that is slow to make (thousands of RSA-signed leaves, a CRL
// with a million entries) is cached under os.TempDir() and reused while it
// stays valid.
package pkigen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// KeyType selects a key algorithm; its value names cached material.
type KeyType string

// Key algorithms.
const (
	ECDSA KeyType = "ecdsa-p256"
	RSA   KeyType = "rsa-2048"
)

func (kt KeyType) testpki() testpki.KeyType {
	if kt == RSA {
		return testpki.RSA
	}
	return testpki.ECDSA
}

// Cert is a certificate with its private key (nil for leaves, whose keys
// the benchmarks never use).
type Cert = testpki.Cert

// NewKey returns a fresh key.
func NewKey(kt KeyType) (crypto.Signer, error) {
	if kt == RSA {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// failure is a testpki failure, carried by a panic to build.
type failure struct{ err error }

// failer is the testpki.TB of build: Fatalf panics with a failure.
type failer struct{}

func (failer) Helper() {}

func (failer) Fatalf(format string, args ...any) {
	panic(failure{fmt.Errorf("pkigen: "+format, args...)})
}

// build runs fn with a TB whose failure becomes the returned error.
func build(fn func(testpki.TB) *Cert) (c *Cert, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			err = f.err
		}
	}()
	return fn(failer{}), nil
}

// caValidity is the validity of the CAs: ten years ahead, so that cached
// material stays usable.
func caValidity(kt KeyType) testpki.Options {
	now := time.Now()
	return testpki.Options{Key: kt.testpki(), NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(10, 0, 0)}
}

// NewRoot returns a self-signed root CA valid for ten years.
func NewRoot(cn string, kt KeyType) (*Cert, error) {
	return build(func(t testpki.TB) *Cert { return testpki.NewRoot(t, cn, caValidity(kt)) })
}

// Intermediate returns a CA signed by ca.
func Intermediate(ca *Cert, cn string, kt KeyType) (*Cert, error) {
	return build(func(t testpki.TB) *Cert { return ca.Intermediate(t, cn, caValidity(kt)) })
}

// Leaf returns a client certificate (clientAuth EKU, valid for a year)
// for pub, signed by ca. Leaves of one pool may share pub: verification
// only ever checks the issuer's signature.
func Leaf(ca *Cert, cn string, pub crypto.PublicKey) (*Cert, error) {
	return LeafOCSP(ca, cn, pub, nil)
}

// LeafOCSP is Leaf naming the OCSP responders ocsp in its Authority
// Information Access.
func LeafOCSP(ca *Cert, cn string, pub crypto.PublicKey, ocsp []string) (*Cert, error) {
	return build(func(t testpki.TB) *Cert {
		return ca.Leaf(t, cn, testpki.Options{PublicKey: pub, DNS: []string{cn + ".clients.bench.test"}, OCSP: ocsp})
	})
}

// Server returns a server certificate (serverAuth) for host with its own
// ECDSA key, signed by ca.
func Server(ca *Cert, host string) (*Cert, error) {
	return build(func(t testpki.TB) *Cert { return ca.Server(t, host) })
}

// Bundle concatenates the PEM of certs.
func Bundle(certs ...*Cert) []byte { return testpki.Bundle(certs...) }
