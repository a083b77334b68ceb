// Package internalca is mtlsgate's own certificate authority. It is
// created at first start and kept in the store (so every replica shares
// it); it signs the serving certificates of mtlsgate's listeners (admin,
// ext_authz, xDS) and the client certificates of Envoy nodes, which name
// the node in a URI SAN (package nodeid).
//
// The CA key never leaves the process but through the store, where it is
// sealed at rest. Node keys never reach mtlsgate at all: a node sends a
// certificate signing request.
package internalca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// caLifetime is how long a new internal CA is valid.
const caLifetime = 10 * 365 * 24 * time.Hour

// backdate starts every certificate's validity a little in the past, so a
// peer whose clock is slightly behind accepts it.
const backdate = 5 * time.Minute

// Authority signs certificates with the internal CA's key.
type Authority struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	pool    *x509.CertPool
}

// New creates a new internal CA (ECDSA P-256, valid for ten years from
// now), ready to be stored.
func New(now time.Time) (*pb.InternalCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("internalca: key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	// A random suffix keeps CAs of different installations apart in a
	// client's trust store and in logs.
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mtlsgate internal CA " + hex.EncodeToString(serial.Bytes()[:4]), Organization: []string{"mtlsgate"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("internalca: create: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("internalca: key: %w", err)
	}
	return &pb.InternalCA{
		CertificatePem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		PrivateKeyPem:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		CreatedAt:      timestamppb.New(now),
	}, nil
}

// Load makes an Authority of a stored CA, or of an operator's own CA given
// as PEM certificate and PKCS#8, PKCS#1 or SEC 1 key.
func Load(ca *pb.InternalCA) (*Authority, error) {
	certBlock, _ := pem.Decode([]byte(ca.GetCertificatePem()))
	if certBlock == nil || certBlock.Type != "CERTIFICATE" {
		return nil, errors.New("internalca: CA certificate: not a PEM CERTIFICATE")
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("internalca: CA certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("internalca: CA certificate %s is not a CA (basicConstraints CA:TRUE and keyCertSign needed)", cert.Subject)
	}
	key, err := parseKey([]byte(ca.GetPrivateKeyPem()))
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("internalca: the CA key does not match the CA certificate")
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &Authority{cert: cert, key: key, pool: pool,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}, nil
}

// Certificate is the CA certificate.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// CertificatePEM is the CA certificate, PEM: what peers trust mtlsgate by.
func (a *Authority) CertificatePEM() []byte { return a.certPEM }

// Pool holds the CA certificate alone: the roots node certificates are
// verified against.
func (a *Authority) Pool() *x509.CertPool { return a.pool }

// Fingerprint is the lowercase hex SHA-256 of the CA certificate.
func (a *Authority) Fingerprint() string {
	sum := sha256.Sum256(a.cert.Raw)
	return hex.EncodeToString(sum[:])
}

func parseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("internalca: CA key: not PEM")
	}
	var k any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("internalca: CA key: PEM type %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("internalca: CA key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("internalca: CA key: %T cannot sign", k)
	}
	return s, nil
}

// publicKeysEqual compares two public keys of the standard library's types.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// randomSerial is a positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("internalca: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// sign issues tpl for pub, capped at the CA's own expiry.
func (a *Authority) sign(tpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tpl.SerialNumber = serial
	tpl.BasicConstraintsValid = true
	if tpl.NotAfter.After(a.cert.NotAfter) {
		tpl.NotAfter = a.cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, a.cert, pub, a.key)
	if err != nil {
		return nil, fmt.Errorf("internalca: sign: %w", err)
	}
	return x509.ParseCertificate(der)
}
