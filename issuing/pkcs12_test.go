package issuing_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mtlsgate/mtlsgate/issuing"
)

// TestPKCS12 packs a new key, its certificate and the CA, then opens the
// file again with go-pkcs12 and with `openssl pkcs12`, with the chosen
// password and a picked one; a wrong password opens nothing.
func TestPKCS12(t *testing.T) {
	now := time.Now()
	ca := newCA(t, "", 0, now)
	key, err := issuing.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(issuing.Request{Identity: "carol", PublicKey: key.Public(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, password := range []string{"correct horse battery", issuing.RandomPassword()} {
		p12, err := issuing.PKCS12(key, cert, ca.Cert, password)
		if err != nil {
			t.Fatal(err)
		}
		k, c, cas, err := pkcs12.DecodeChain(p12, password)
		if err != nil {
			t.Fatalf("go-pkcs12 decode: %v", err)
		}
		if !key.Equal(k) || !c.Equal(cert) || len(cas) != 1 || !cas[0].Equal(ca.Cert) {
			t.Errorf("decoded key %v cert %v CAs %d", key.Equal(k), c.Equal(cert), len(cas))
		}
		if _, _, _, err := pkcs12.DecodeChain(p12, password+"x"); err == nil {
			t.Error("decoded with a wrong password")
		}
		openWithOpenSSL(t, p12, password, cert, ca.Cert)
	}
}

// openWithOpenSSL runs `openssl pkcs12 -nodes` on p12 and checks that the
// output holds both certificates and a private key.
func openWithOpenSSL(t *testing.T, p12 []byte, password string, cert, ca *x509.Certificate) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed: the PKCS#12 file was opened with go-pkcs12 only")
	}
	path := filepath.Join(t.TempDir(), "client.p12")
	if err := os.WriteFile(path, p12, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "pkcs12", "-in", path, "-passin", "pass:"+password, "-nodes").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12: %v\n%s", err, out)
	}
	var certs []*x509.Certificate
	keys := 0
	for rest := out; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY":
			keys++
		}
	}
	if keys != 1 || len(certs) != 2 || !certs[0].Equal(cert) && !certs[1].Equal(cert) || !certs[0].Equal(ca) && !certs[1].Equal(ca) {
		t.Errorf("openssl output: %d keys, %d certificates\n%s", keys, len(certs), out)
	}
	bad, err := exec.Command(bin, "pkcs12", "-in", path, "-passin", "pass:"+password+"x", "-nodes").CombinedOutput()
	if err == nil || strings.Contains(string(bad), "PRIVATE KEY") {
		t.Errorf("openssl opened the file with a wrong password: %s", bad)
	}
}
