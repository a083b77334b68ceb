package etcdproc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// keyPair is a certificate and its key.
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// issue makes a certificate from tmpl signed by parent (self-signed when
// parent is nil).
func issue(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(7*24*time.Hour)
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

// writeTLS makes a CA, a certificate for the members (server and client:
// members dial each other's clients when proxying) and one for clients,
// writes them into dir, and returns the members' flags and the client's
// TLS configuration.
func writeTLS(dir string) ([]string, *tls.Config, error) {
	ca, err := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "etcdproc CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil)
	if err != nil {
		return nil, nil, err
	}
	member, err := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "etcd member"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}, ca)
	if err != nil {
		return nil, nil, err
	}
	client, err := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "mtlsgate"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
	if err != nil {
		return nil, nil, err
	}
	files := map[string][]byte{"ca.pem": certPEM(ca), "member.pem": certPEM(member), "member-key.pem": keyPEM(member),
		"client.pem": certPEM(client), "client-key.pem": keyPEM(client)}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cert := tls.Certificate{Certificate: [][]byte{client.cert.Raw}, PrivateKey: client.key, Leaf: client.cert}
	return []string{"--client-cert-auth", "--trusted-ca-file", filepath.Join(dir, "ca.pem"),
			"--cert-file", filepath.Join(dir, "member.pem"), "--key-file", filepath.Join(dir, "member-key.pem")},
		&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func certPEM(k *keyPair) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.cert.Raw})
}

func keyPEM(k *keyPair) []byte {
	der, _ := x509.MarshalECPrivateKey(k.key) // cannot fail for a P-256 key
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}
