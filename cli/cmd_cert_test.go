package cli

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/mtlsgate/mtlsgate/issuing"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

var sampleIssued = &pb.IssuedCertificate{Serial: "0C0FFEE", Identity: "alice", Sha256Fingerprint: strings.Repeat("ef", 32),
	NotAfter: ts("2026-08-30T00:00:00Z"), IssuedBy: "tok-1", IssuedAt: ts("2026-06-01T00:00:00Z")}

var sampleIssuingCA = &pb.IssuingCA{ClientCaId: "ca-issuing", CrlUrl: "https://gate.example.com/crl/issuing.crl", CrlNumber: 3}

func init() {
	for m, a := range map[string]proto.Message{
		"CreateIssuingCA": sampleIssuingCA, "GetIssuingCA": sampleIssuingCA,
		"IssueClientCertificate":  &pb.IssueClientCertificateResponse{Certificate: sampleIssued, CertificatePem: "CERT"},
		"RenewClientCertificate":  &pb.IssueClientCertificateResponse{Certificate: sampleIssued, CertificatePem: "CERT"},
		"RevokeClientCertificate": sampleIssued,
		"ListIssuedCertificates":  &pb.ListIssuedCertificatesResponse{Certificates: []*pb.IssuedCertificate{sampleIssued}},
	} {
		moreAnswers[m] = a
	}
	for path, args := range map[string][]string{
		"cert ca": {"show"}, "cert issue": {"--identity", "alice", "--out", "OUT"}, "cert renew": {"0C0FFEE", "--out", "OUT"},
		"cert revoke": {"0C0FFEE"}, "cert list": nil,
	} {
		invocations[path] = args
	}
	commonCompCases = append(commonCompCases,
		compCase{words: []string{"cert", ""}, want: []string{"ca", "issue", "renew", "revoke", "list"}},
		compCase{words: []string{"cert", "ca", ""}, want: []string{"create", "show"}},
		compCase{words: []string{"cert", "issue", "--"}, want: []string{"--identity", "--days", "--csr", "--out", "--password"}, more: true},
	)
}

// realIssue is an issue answer as the server makes it without a CSR: a
// real certificate, key and PKCS#12 under password.
func realIssue(t *testing.T, password string) *pb.IssueClientCertificateResponse {
	t.Helper()
	ca, _, err := issuing.NewCA("", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := issuing.NewKey()
	cert, err := ca.Issue(issuing.Request{Identity: "alice", PublicKey: key.Public(), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := issuing.KeyPEM(key)
	p12, err := issuing.PKCS12(key, cert, ca.Cert, password)
	if err != nil {
		t.Fatal(err)
	}
	rec := proto.Clone(sampleIssued).(*pb.IssuedCertificate)
	rec.Serial = pki.SerialHex(cert.SerialNumber)
	return &pb.IssueClientCertificateResponse{Certificate: rec, CertificatePem: pki.EncodePEM([]*x509.Certificate{cert}), CaPem: ca.CertPEM,
		PrivateKeyPem: keyPEM, Pkcs12: p12, Pkcs12Password: password}
}

// TestCertIssue: the request sent, the three files written 0600 (the
// PKCS#12 opens with the password), the password printed only when the
// server picked it, and never the key on stdout, in any format.
func TestCertIssue(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		args           []string
		printed        bool
	}{
		{"picked", "pickedpassword0123456789ab", nil, true},
		{"given", "my pass", []string{"--password", "my pass"}, false},
		{"picked, json", "pickedpassword0123456789ab", []string{"-o", "json"}, true},
		{"picked, id", "pickedpassword0123456789ab", []string{"-o", "id"}, true},
	} {
		resp := realIssue(t, tc.password)
		f := (&fakeAPI{}).on("IssueClientCertificate", reply(resp))
		prefix := filepath.Join(t.TempDir(), "alice")
		args := append([]string{"cert", "issue", "--identity", "alice", "--days", "30", "--out", prefix}, tc.args...)
		code, out, errOut := runFake(f, testEnv{}, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d %q", tc.name, code, errOut)
		}
		req := f.reqs[0].(*pb.IssueClientCertificateRequest)
		if req.GetIdentity() != "alice" || req.GetDays() != 30 || req.GetCsrPem() != "" || req.GetPkcs12Password() != strings.TrimPrefix(strings.Join(tc.args, " "), "--password ") && tc.name == "given" {
			t.Errorf("%s: sent %v", tc.name, req)
		}
		if strings.Contains(out+errOut, "PRIVATE KEY") || strings.Contains(out, "pkcs12\":") {
			t.Errorf("%s: the key or PKCS#12 on the terminal: %s", tc.name, out)
		}
		if got := strings.Contains(out+errOut, tc.password); got != tc.printed {
			t.Errorf("%s: password printed %v, want %v: %q %q", tc.name, got, tc.printed, out, errOut)
		}
		for ext, want := range map[string]string{".crt": resp.GetCertificatePem(), ".key": resp.GetPrivateKeyPem(), ".p12": string(resp.GetPkcs12())} {
			st, err := os.Stat(prefix + ext)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %s: %v mode %v", tc.name, ext, err, st)
			}
			if b, _ := os.ReadFile(prefix + ext); string(b) != want {
				t.Errorf("%s: %s holds something else", tc.name, ext)
			}
		}
		b, _ := os.ReadFile(prefix + ".p12")
		if _, _, _, err := pkcs12.DecodeChain(b, tc.password); err != nil {
			t.Errorf("%s: the PKCS#12 written does not open: %v", tc.name, err)
		}
	}
}

// TestCertIssueWithCSR: the CSR file is sent, only the certificate is
// written, and --password with --csr or no --identity is a usage error
// that calls nothing.
func TestCertIssueWithCSR(t *testing.T) {
	f := (&fakeAPI{}).on("IssueClientCertificate", reply(&pb.IssueClientCertificateResponse{Certificate: sampleIssued, CertificatePem: "CERT PEM"}))
	prefix := filepath.Join(t.TempDir(), "dev")
	code, out, errOut := runFake(f, testEnv{files: map[string]string{"req.csr": "CSR PEM"}}, "cert", "issue", "--identity", "alice", "--csr", "req.csr", "--out", prefix)
	if code != 0 || !strings.Contains(out, prefix+".crt") || strings.Contains(out, "password") {
		t.Fatalf("exit %d %q %q", code, out, errOut)
	}
	if got := f.reqs[0].(*pb.IssueClientCertificateRequest).GetCsrPem(); got != "CSR PEM" {
		t.Errorf("sent CSR %q", got)
	}
	for ext, exists := range map[string]bool{".crt": true, ".key": false, ".p12": false} {
		if _, err := os.Stat(prefix + ext); (err == nil) != exists {
			t.Errorf("%s: exists %v", ext, err == nil)
		}
	}
	for _, args := range [][]string{{"--identity", "a", "--csr", "req.csr", "--password", "p"}, {"--days", "3"}} {
		f := &fakeAPI{}
		if code, _, errOut := runFake(f, testEnv{files: map[string]string{"req.csr": "x"}}, append([]string{"cert", "issue"}, args...)...); code != 2 || len(f.calls) > 0 {
			t.Errorf("%v: exit %d %q calls %v", args, code, errOut, f.calls)
		}
	}
}

// TestCertCommands: ca create/show, renew, revoke and list send what they
// name and print the certificate's state.
func TestCertCommands(t *testing.T) {
	for _, c := range []struct {
		args   []string
		method string
		want   proto.Message
		out    string
	}{
		{[]string{"cert", "ca", "create", "--cn", "Users", "--days", "365"}, "CreateIssuingCA", &pb.CreateIssuingCARequest{CommonName: "Users", Days: 365}, "mtlsgate ca assign ca-issuing HOST"},
		{[]string{"cert", "ca", "show"}, "GetIssuingCA", &pb.GetIssuingCARequest{}, "https://gate.example.com/crl/issuing.crl"},
		{[]string{"cert", "renew", "0c0ffee", "--days", "7", "--out", filepath.Join(t.TempDir(), "a")}, "RenewClientCertificate", &pb.RenewClientCertificateRequest{Serial: "0c0ffee", Days: 7}, "0C0FFEE"},
		{[]string{"cert", "revoke", "0C0FFEE"}, "RevokeClientCertificate", &pb.RevokeClientCertificateRequest{Serial: "0C0FFEE"}, "active"},
		{[]string{"cert", "list", "--identity", "alice"}, "ListIssuedCertificates", &pb.ListIssuedCertificatesRequest{Identity: "alice"}, "0C0FFEE  alice"},
	} {
		f := everyMethodAPI(t)
		code, out, errOut := runFake(f, testEnv{}, c.args...)
		if code != 0 || !strings.Contains(out, c.out) {
			t.Errorf("%v: exit %d %q %q, want %q", c.args, code, out, errOut, c.out)
			continue
		}
		if len(f.calls) != 1 || f.calls[0] != c.method || !proto.Equal(f.reqs[0], c.want) {
			t.Errorf("%v: called %v with %v, want %s %v", c.args, f.calls, f.reqs, c.method, c.want)
		}
	}
	for _, args := range [][]string{{"cert", "ca", "delete"}, {"cert", "ca", "show", "--cn", "x"}, {"cert", "revoke"}} {
		f := &fakeAPI{}
		if code, _, errOut := runFake(f, testEnv{}, args...); code != 2 || len(f.calls) > 0 {
			t.Errorf("%v: exit %d %q calls %v", args, code, errOut, f.calls)
		}
	}
}
