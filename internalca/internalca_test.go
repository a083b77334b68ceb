package internalca_test

import (
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
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internalca"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func newAuthority(t *testing.T) *internalca.Authority {
	t.Helper()
	stored, err := internalca.New(now)
	if err != nil {
		t.Fatal(err)
	}
	a, err := internalca.Load(stored)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func csrPEM(t *testing.T, key crypto.Signer, tpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestLoadRefusesMismatchAndNonCA(t *testing.T) {
	a, _ := internalca.New(now)
	b, _ := internalca.New(now)
	if _, err := internalca.Load(&pb.InternalCA{CertificatePem: a.CertificatePem, PrivateKeyPem: b.PrivateKeyPem}); err == nil ||
		!strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched key: %v", err)
	}
	if _, err := internalca.Load(&pb.InternalCA{CertificatePem: "junk", PrivateKeyPem: a.PrivateKeyPem}); err == nil {
		t.Error("junk certificate loaded")
	}
	if _, err := internalca.Load(&pb.InternalCA{CertificatePem: a.CertificatePem, PrivateKeyPem: "junk"}); err == nil {
		t.Error("junk key loaded")
	}
	// A serving certificate is not a CA.
	ca, _ := internalca.Load(a)
	srv, err := ca.IssueServing([]string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	leaf := &pb.InternalCA{
		CertificatePem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Leaf.Raw})),
		PrivateKeyPem:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}
	if _, err := internalca.Load(leaf); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("leaf as CA: %v", err)
	}
}

func TestParseCSR(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	good := csrPEM(t, p256, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}})
	tampered := []byte(strings.Replace(string(good), "MIH", "MIG", 1))
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"P-256", good, ""},
		{"too big", append(good, make([]byte, internalca.MaxCSRBytes)...), "more than"},
		{"not PEM", []byte("hello"), "not a PEM CERTIFICATE REQUEST"},
		{"certificate instead", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "not a PEM CERTIFICATE REQUEST"},
		{"trailing data", append(append([]byte{}, good...), good...), "data after"},
		{"tampered", tampered, ""},
		{"P-224", csrPEM(t, p224, &x509.CertificateRequest{}), "curve"},
		{"RSA 1024", csrPEM(t, rsa1024, &x509.CertificateRequest{}), "1024 bits"},
		{"Ed25519", csrPEM(t, ed, &x509.CertificateRequest{}), "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := internalca.ParseCSR(tc.in)
			if tc.name == "P-256" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, internalca.ErrBadCSR) {
				t.Fatalf("err = %v, want ErrBadCSR", err)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestSignNode(t *testing.T) {
	a := newAuthority(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// The CSR asks for other names; they must be ignored.
	csr, err := internalca.ParseCSR(csrPEM(t, key, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "admin"}, DNSNames: []string{"evil.example"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	id := nodeid.Identity{Fleet: "eu", Node: "edge-1"}
	cert, err := a.SignNode(csr, id, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := nodeid.FromCertificate(cert); err != nil || got != id {
		t.Fatalf("identity %v, %v", got, err)
	}
	if len(cert.DNSNames) != 0 || cert.Subject.CommonName != "edge-1" {
		t.Fatalf("names from the CSR leaked in: %v %v", cert.DNSNames, cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: a.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("node certificate does not verify as a client: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: a.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("node certificate verifies as a server")
	}
	if !cert.NotAfter.Equal(now.Add(24 * time.Hour).Truncate(time.Second)) {
		t.Fatalf("NotAfter %s", cert.NotAfter)
	}
	capped, _ := a.SignNode(csr, id, now, 100*365*24*time.Hour)
	if capped.NotAfter.After(a.Certificate().NotAfter) {
		t.Fatal("node certificate outlives its CA")
	}
	if _, err := a.SignNode(csr, nodeid.Identity{Fleet: "e/u", Node: "n"}, now, time.Hour); err == nil {
		t.Fatal("bad fleet name signed")
	}
	if _, err := a.SignNode(csr, id, now, 0); err == nil {
		t.Fatal("zero lifetime signed")
	}
}

func TestServing(t *testing.T) {
	a := newAuthority(t)
	c, err := a.IssueServing([]string{"localhost", "127.0.0.1", "::1", "mtlsgate.internal", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != nodeid.ServerURI {
		t.Fatalf("URIs %v", leaf.URIs)
	}
	if len(leaf.DNSNames) != 2 || len(leaf.IPAddresses) != 2 {
		t.Fatalf("DNS %v IP %v", leaf.DNSNames, leaf.IPAddresses)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "mtlsgate.internal"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.Pool(), DNSName: host, CurrentTime: now}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("serving certificate verifies as a client")
	}

	clock := now
	s, err := internalca.NewServing(a, []string{"localhost"}, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	first, _ := s.GetCertificate(nil)
	clock = now.Add(internalca.ServingLifetime / 2)
	if same, _ := s.GetCertificate(nil); same != first {
		t.Fatal("renewed at half its lifetime")
	}
	clock = now.Add(internalca.ServingLifetime * 3 / 4)
	renewed, _ := s.GetCertificate(nil)
	if renewed == first || !renewed.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Fatal("not renewed past two thirds of its lifetime")
	}
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
