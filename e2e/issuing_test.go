package e2e

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	"github.com/mtlsgate/mtlsgate/pki"
)

// TestIssuingThroughTheCLI: on the real binary, the issuing CA is created
// and assigned to an enforcing site with the CLI; a certificate issued to an
// identity (files 0600, a PKCS#12 that opens with the password printed)
// passes ext_authz with its identity; once revoked with the CLI, the next
// Checks refuse it (reason revoked) within a second, the CRL served without
// a token lists it, the audit log names it, and the CRL learner has not
// learned mtlsgate's own CRL URL.
func TestIssuingThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	in := serve(t, filepath.Join(dir, "data"))
	srv := testpki.NewRoot(t, "E2E Server CA", testpki.Options{}).Server(t, "app.example.com")
	in.cli(t, "identity", "add", "alice")
	caID := in.cli(t, "cert", "ca", "create", "--cn", "E2E users", "-o", "id")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	in.cli(t, "site", "assign", "app.example.com", caID)

	prefix := filepath.Join(dir, "alice")
	out := in.cli(t, "cert", "issue", "--identity", "alice", "--days", "30", "--out", prefix, "-o", "id")
	serial, password := issuedSerialAndPassword(t, out)
	for _, ext := range []string{".crt", ".key", ".p12"} {
		if st, err := os.Stat(prefix + ext); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", ext, err, st)
		}
	}
	p12, _ := os.ReadFile(prefix + ".p12")
	if _, cert, _, err := pkcs12.DecodeChain(p12, password); err != nil || pki.SerialHex(cert.SerialNumber) != serial {
		t.Fatalf("PKCS#12 with the printed password: %v", err)
	}
	certPEM, _ := os.ReadFile(prefix + ".crt")

	client := authv3.NewAuthorizationClient(in.dialNode(t, in.authz, in.nodeCreds(t, in.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"}))))
	check := func() *authv3.CheckResponse {
		resp, err := client.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source:            &authv3.AttributeContext_Peer{Certificate: extract.EncodeNew(certPEM)},
			TlsSession:        &authv3.AttributeContext_TLSSession{Sni: "app.example.com"},
			ContextExtensions: map[string]string{"site": "app.example.com"},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Host: "app.example.com", Path: "/", Method: "GET"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	eventually(t, time.Second, "alice's issued certificate allowed", func() bool { return check().GetOkResponse() != nil })
	if !strings.Contains(check().GetOkResponse().String(), "alice") {
		t.Errorf("the origin is not told the identity: %v", check().GetOkResponse())
	}

	in.cli(t, "cert", "revoke", serial)
	eventually(t, time.Second, "alice's revoked certificate refused", func() bool {
		d := check().GetDeniedResponse()
		return d != nil && strings.Contains(d.GetBody(), "(revoked)")
	})
	crl := in.servedCRL(t)
	if len(crl.RevokedCertificateEntries) != 1 || pki.SerialHex(crl.RevokedCertificateEntries[0].SerialNumber) != serial {
		t.Fatalf("served CRL entries %v", crl.RevokedCertificateEntries)
	}
	if audit := in.cli(t, "audit", "--action", "RevokeClientCertificate", "-o", "json"); !strings.Contains(audit, serial) || !strings.Contains(audit, `\"alice\"`) {
		t.Fatalf("the audit log does not name the revocation: %s", audit)
	}
	if list := in.cli(t, "cert", "list", "--identity", "alice"); !strings.Contains(list, serial) || !strings.Contains(list, "revoked") {
		t.Fatalf("cert list: %s", list)
	}
	if sources := in.cli(t, "crl", "sources", "-o", "json"); strings.Contains(sources, "/crl/issuing.crl") {
		t.Fatalf("mtlsgate learned its own CRL URL: %s", sources)
	}
}

// issuedSerialAndPassword reads cert issue -o id's output: the serial, and
// the password the server picked (on stderr).
func issuedSerialAndPassword(t *testing.T, out string) (serial, password string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "PKCS#12 password (shown once; mtlsgate keeps no copy): "); ok {
			password = p
		} else if line != "" {
			serial = line
		}
	}
	if serial == "" || password == "" {
		t.Fatalf("cert issue printed %q", out)
	}
	return serial, password
}

// servedCRL GETs the issuing CA's CRL from the admin port without a token.
func (in *instance) servedCRL(t *testing.T) *x509.RevocationList {
	t.Helper()
	resp, err := in.httpClient(t).Get("https://" + in.admin + "/crl/issuing.crl")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	der, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("GET /crl/issuing.crl: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

// TestIssuedThroughTheDataPlane: a certificate issued by the issuing CA
// opens a real TLS connection through the data plane to an enforcing site
// the CA is assigned to, and the origin is told its identity; once revoked,
// the data plane refuses its handshake (the CRL reached it over SDS).
func TestIssuedThroughTheDataPlane(t *testing.T) {
	d := deploy(t)
	in, c := d.in, d.c
	in.cli(t, "identity", "add", "carol")
	caID := in.cli(t, "cert", "ca", "create", "-o", "id")
	in.cli(t, "site", "assign", "later.example.com", caID)
	prefix := filepath.Join(d.dir, "carol")
	serial, _ := issuedSerialAndPassword(t, in.cli(t, "cert", "issue", "--identity", "carol", "--out", prefix, "-o", "id"))
	carol := loadIssued(t, prefix)
	eventually(t, 10*time.Second, "carol's issued certificate admitted", func() bool {
		resp, e, err := c.get("later.example.com", "later.example.com", "/", carol, nil)
		return err == nil && resp.StatusCode == 200 && e.Headers.Get("X-Client-Cert-Identity") == "carol" &&
			e.Headers.Get("X-Client-Cert-Verify") == "SUCCESS"
	})
	in.cli(t, "cert", "revoke", serial)
	// Every CA of the site has a CRL (the issuing CA's is stored from its
	// creation on), so the data plane holds it over SDS and refuses the
	// handshake itself.
	eventually(t, 5*time.Second, "carol's revoked certificate refused at the handshake", func() bool {
		_, _, err := c.get("later.example.com", "later.example.com", "/", carol, nil)
		return err != nil
	})
}

// loadIssued reads PREFIX.crt and PREFIX.key as cert issue wrote them.
func loadIssued(t *testing.T, prefix string) *testpki.Cert {
	t.Helper()
	certPEM, err := os.ReadFile(prefix + ".crt")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificates(certPEM)
	if err != nil || len(certs) != 1 {
		t.Fatalf("%s.crt: %v", prefix, err)
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		t.Fatalf("%s.key: not PEM", prefix)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &testpki.Cert{Cert: certs[0], Key: k.(crypto.Signer)}
}
