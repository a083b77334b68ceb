package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/mtlsgate/mtlsgate/api"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// putIdentity stores an enabled identity for the issuing tests.
func putIdentity(t *testing.T, e *env, name string) {
	t.Helper()
	if _, err := e.srv.Store().CreateIdentity(t.Context(), store.Actor{TokenID: "test", Action: "CreateIdentity"}, &pb.Identity{Name: name}); err != nil {
		t.Fatal(err)
	}
}

func csrPEM(t *testing.T) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), key
}

// TestIssuingOverGRPC: create the CA (never its key on the wire), issue
// with a CSR and without one (key and PKCS#12 once, in the answer only),
// renew, list, revoke; refusals carry the right code and field.
func TestIssuingOverGRPC(t *testing.T) {
	e := start(t)
	c := e.client(e.admin)
	ctx := context.Background()
	putIdentity(t, e, "alice")
	if _, err := c.GetIssuingCA(ctx, &pb.GetIssuingCARequest{}); status.Code(err) != codes.NotFound {
		t.Fatalf("get before create: %v", err)
	}
	if _, err := c.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{Identity: "alice"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("issue before create: %v", err)
	}
	ica, err := c.CreateIssuingCA(ctx, &pb.CreateIssuingCARequest{CommonName: "Users", Days: 365})
	if err != nil {
		t.Fatal(err)
	}
	wantURL := "http://127.0.0.1:" + e.addr[strings.LastIndex(e.addr, ":")+1:] + api.IssuingCRLPath
	if ica.GetPrivateKeyPem() != "" || ica.GetCrlUrl() != wantURL || ica.GetClientCaId() == "" {
		t.Fatalf("created CA: key %v, URL %q (want %q)", ica.GetPrivateKeyPem() != "", ica.GetCrlUrl(), wantURL)
	}
	if got, err := c.GetIssuingCA(ctx, &pb.GetIssuingCARequest{}); err != nil || got.GetPrivateKeyPem() != "" || got.GetCertificatePem() != ica.GetCertificatePem() {
		t.Fatalf("get: %v", err)
	}
	if _, err := c.CreateIssuingCA(ctx, &pb.CreateIssuingCARequest{}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second CA: %v", err)
	}
	csr, key := csrPEM(t)
	withCSR, err := c.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{Identity: "alice", CsrPem: csr, Days: 10})
	if err != nil {
		t.Fatal(err)
	}
	cert := parseOne(t, withCSR.GetCertificatePem())
	if !key.PublicKey.Equal(cert.PublicKey) || withCSR.GetPrivateKeyPem() != "" || withCSR.GetPkcs12() != nil || withCSR.GetCaPem() != ica.GetCertificatePem() {
		t.Errorf("CSR answer: key %v, private key %v, p12 %v", key.PublicKey.Equal(cert.PublicKey), withCSR.GetPrivateKeyPem() != "", withCSR.GetPkcs12() != nil)
	}
	if len(cert.CRLDistributionPoints) != 1 || cert.CRLDistributionPoints[0] != wantURL {
		t.Errorf("CRL DP %v", cert.CRLDistributionPoints)
	}
	noCSR, err := c.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{Identity: "alice", Pkcs12Password: "s3cret pass"})
	if err != nil {
		t.Fatal(err)
	}
	pk, p12cert, cas, err := pkcs12.DecodeChain(noCSR.GetPkcs12(), "s3cret pass")
	if err != nil || noCSR.GetPkcs12Password() != "s3cret pass" || !p12cert.Equal(parseOne(t, noCSR.GetCertificatePem())) || len(cas) != 1 {
		t.Fatalf("PKCS#12: %v", err)
	}
	if b, _ := pem.Decode([]byte(noCSR.GetPrivateKeyPem())); b == nil || !pk.(*ecdsa.PrivateKey).PublicKey.Equal(p12cert.PublicKey) {
		t.Error("the PEM key is not the PKCS#12's")
	}
	renewed, err := c.RenewClientCertificate(ctx, &pb.RenewClientCertificateRequest{Serial: withCSR.GetCertificate().GetSerial()})
	if err != nil || renewed.GetCertificate().GetRenews() != withCSR.GetCertificate().GetSerial() || len(renewed.GetPkcs12Password()) != 26 {
		t.Fatalf("renew: %v %v", renewed.GetCertificate(), err)
	}
	list, err := c.ListIssuedCertificates(ctx, &pb.ListIssuedCertificatesRequest{Identity: "alice"})
	if err != nil || len(list.GetCertificates()) != 3 {
		t.Fatalf("list: %v %v", list, err)
	}
	if l, _ := c.ListIssuedCertificates(ctx, &pb.ListIssuedCertificatesRequest{Identity: "bob"}); len(l.GetCertificates()) != 0 {
		t.Errorf("bob's list: %v", l)
	}
	revoked, err := c.RevokeClientCertificate(ctx, &pb.RevokeClientCertificateRequest{Serial: withCSR.GetCertificate().GetSerial()})
	if err != nil || revoked.GetRevokedAt() == nil {
		t.Fatalf("revoke: %v", err)
	}
	for name, tc := range map[string]struct {
		call  func() error
		code  codes.Code
		field string
	}{
		"bad csr": {func() error {
			_, err := c.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{Identity: "alice", CsrPem: "junk"})
			return err
		}, codes.InvalidArgument, "csr_pem:"},
		"csr and password": {func() error {
			_, err := c.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{Identity: "alice", CsrPem: csr, Pkcs12Password: "p"})
			return err
		}, codes.InvalidArgument, "pkcs12_password:"},
		"bad password": {func() error {
			_, err := c.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{Identity: "alice", Pkcs12Password: "a\x00b"})
			return err
		}, codes.InvalidArgument, "pkcs12_password:"},
		"no identity": {func() error { _, err := c.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{}); return err }, codes.InvalidArgument, "identity:"},
		"unknown identity": {func() error {
			_, err := c.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{Identity: "bob"})
			return err
		}, codes.NotFound, "bob"},
		"bad days": {func() error {
			_, err := c.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{Identity: "alice", Days: -1})
			return err
		}, codes.InvalidArgument, "days:"},
		"revoke again": {func() error {
			_, err := c.RevokeClientCertificate(ctx, &pb.RevokeClientCertificateRequest{Serial: revoked.GetSerial()})
			return err
		}, codes.FailedPrecondition, revoked.GetSerial()},
		"revoke nothing": {func() error {
			_, err := c.RevokeClientCertificate(ctx, &pb.RevokeClientCertificateRequest{})
			return err
		}, codes.InvalidArgument, "serial:"},
		"renew unknown": {func() error {
			_, err := c.RenewClientCertificate(ctx, &pb.RenewClientCertificateRequest{Serial: "AB"})
			return err
		}, codes.NotFound, "AB"},
	} {
		err := tc.call()
		if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.field) {
			t.Errorf("%s: %v, want %v naming %q", name, err, tc.code, tc.field)
		}
	}
	assertNoKeyInAudit(t, c, noCSR.GetPrivateKeyPem(), renewed.GetPrivateKeyPem())
}

// assertNoKeyInAudit checks the audit log of the issuing calls: each names
// serial and identity, none holds a private key or a password.
func assertNoKeyInAudit(t *testing.T, c pb.CertificateManagerServiceClient, keys ...string) {
	t.Helper()
	audit, err := c.ListAuditEvents(context.Background(), &pb.ListAuditEventsRequest{Object: "issued/", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, ev := range audit.GetEvents() {
		text := ev.String()
		for _, k := range keys {
			if strings.Contains(text, "PRIVATE KEY") || strings.Contains(text, k[30:60]) || strings.Contains(text, "s3cret") {
				t.Errorf("audit event holds a key or password: %v", ev)
			}
		}
		if ev.GetResult() == "ok" {
			ok++
			if !strings.Contains(ev.GetMessage(), `identity "alice"`) || !strings.Contains(ev.GetMessage(), "sha256 ") {
				t.Errorf("audit message %q", ev.GetMessage())
			}
		}
	}
	if ok != 4 { // two issues, a renewal, a revocation
		t.Errorf("%d ok audit events of issued certificates: %v", ok, audit.GetEvents())
	}
}

func parseOne(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	certs, err := pki.ParseCertificates([]byte(p))
	if err != nil || len(certs) != 1 {
		t.Fatalf("certificate: %v", err)
	}
	return certs[0]
}

// TestIssuingOverHTTP: the JSON routes, and the CRL served without a token
// as application/pkix-crl, listing a revoked certificate at once.
func TestIssuingOverHTTP(t *testing.T) {
	e := start(t)
	putIdentity(t, e, "alice")
	if code, _, _ := e.do(t, "", "GET", api.IssuingCRLPath, "", nil); code != 404 {
		t.Fatalf("CRL without a CA: %d", code)
	}
	if code, _, out := e.do(t, e.admin, "POST", "/v1/issuing-ca", "application/json", []byte(`{"common_name": "\u0001"}`)); code != 400 || !strings.Contains(string(out), "common_name:") {
		t.Fatalf("bad name: %d %s", code, out)
	}
	code, _, out := e.do(t, e.admin, "POST", "/v1/issuing-ca", "application/json", []byte(`{"days": 30}`))
	if code != 200 || strings.Contains(string(out), "PRIVATE KEY") || strings.Contains(string(out), "private_key_pem") {
		t.Fatalf("create: %d %s", code, out)
	}
	if code, _, out := e.do(t, e.admin, "GET", "/v1/issuing-ca", "", nil); code != 200 || strings.Contains(string(out), "PRIVATE KEY") {
		t.Fatalf("get: %d %s", code, out)
	}
	code, _, out = e.do(t, e.admin, "POST", "/v1/issued", "application/json", []byte(`{"identity": "alice"}`))
	if code != 200 || !strings.Contains(string(out), `"pkcs12":`) || !strings.Contains(string(out), "PRIVATE KEY") {
		t.Fatalf("issue: %d %s", code, out)
	}
	serial := e.issuedSerial(t)
	if code, _, out := e.do(t, e.admin, "POST", "/v1/issued/"+serial+"/renew", "application/json", []byte(`{}`)); code != 200 {
		t.Fatalf("renew: %d %s", code, out)
	}
	if code, _, out := e.do(t, e.admin, "GET", "/v1/issued?identity=alice", "", nil); code != 200 || strings.Count(string(out), `"serial"`) != 2 {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, _, out := e.do(t, e.admin, "POST", "/v1/issued/"+serial+"/revoke", "application/json", []byte(`{}`)); code != 200 || !strings.Contains(string(out), "revoked_at") {
		t.Fatalf("revoke: %d %s", code, out)
	}
	code, h, der := e.do(t, "", "GET", api.IssuingCRLPath, "", nil)
	if code != 200 || h.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("CRL: %d %s", code, h.Get("Content-Type"))
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	ica := e.srv.Store().Current().IssuingCA()
	if err := crl.CheckSignatureFrom(parseOne(t, ica.GetCertificatePem())); err != nil || crl.Number.Int64() != 2 ||
		len(crl.RevokedCertificateEntries) != 1 || pki.SerialHex(crl.RevokedCertificateEntries[0].SerialNumber) != serial {
		t.Errorf("served CRL: %v number %s entries %v", err, crl.Number, crl.RevokedCertificateEntries)
	}
	if code, _, _ := e.do(t, "", "POST", api.IssuingCRLPath, "", nil); code != 405 {
		t.Errorf("POST to the CRL: %d", code)
	}
}

// issuedSerial is the serial of the one certificate issued so far.
func (e *env) issuedSerial(t *testing.T) string {
	t.Helper()
	all := e.srv.Store().Current().IssuedCertificates()
	if len(all) != 1 {
		t.Fatalf("%d issued certificates", len(all))
	}
	return all[0].GetSerial()
}
