package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// CAPool is the internal CA the server wrote into its data directory:
// what its listeners are verified by.
func (s Serving) CAPool() (*x509.CertPool, error) {
	b, err := os.ReadFile(filepath.Join(s.Data, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("ca.pem holds no certificate")
	}
	return pool, nil
}

// CAFile is the path of the server's CA certificate.
func (s Serving) CAFile() string { return filepath.Join(s.Data, "ca.pem") }

// NodeTLS asks the server for a node certificate of fleet and node, as
// `mtlsgate envoy bootstrap` does (a key made here, a CSR sent), and
// returns a client tls.Config that presents it and verifies the server.
func (a *API) NodeTLS(fleet, node string) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.Ctx(30 * time.Second)
	defer cancel()
	resp, err := a.IssueNodeCertificate(ctx, &pb.IssueNodeCertificateRequest{NodeId: node, Fleet: fleet,
		CsrPem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	if err != nil {
		return nil, fmt.Errorf("issue node certificate: %w", err)
	}
	block, _ := pem.Decode([]byte(resp.GetCertificatePem()))
	if block == nil {
		return nil, errors.New("issue node certificate: no PEM in the answer")
	}
	return &tls.Config{RootCAs: a.pool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: key}}}, nil
}

// ServerPair is a CA and a server certificate it signed for 127.0.0.1,
// for a baseline server that must do the same TLS work as mtlsgate's
// listeners (a two-certificate chain, ECDSA P-256).
type ServerPair struct {
	CA   *x509.Certificate
	Cert tls.Certificate
}

// NewServerPair makes a ServerPair.
func NewServerPair() (*ServerPair, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench baseline CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "bench baseline"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	return &ServerPair{CA: ca, Cert: tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}}, nil
}

// WriteFiles writes the pair's certificate chain and key as PEM into dir
// and returns their paths.
func (p *ServerPair) WriteFiles(dir string) (certFile, keyFile string, err error) {
	var chain []byte
	for _, d := range p.Cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.Cert.PrivateKey)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "baseline.pem"), filepath.Join(dir, "baseline.key")
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// UntilServed calls fn until it stops failing with PermissionDenied, for
// at most timeout. A node certificate is issued through the API, and
// ext_authz and xDS follow the store a moment behind it (up to the
// consumers' debounce): until then they refuse the new node as unknown.
// Any other error is returned at once.
func UntilServed(timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if status.Code(err) != codes.PermissionDenied || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
