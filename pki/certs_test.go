package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCertificatesOK(t *testing.T) {
	f := testPKI()
	opensslText := func(c *x509.Certificate) string {
		return "subject=" + c.Subject.String() + "\nissuer=" + c.Issuer.String() + "\n"
	}
	tests := []struct {
		name string
		in   string
		want []*x509.Certificate
	}{
		{"single PEM", pemOf(f.leaf), []*x509.Certificate{f.leaf}},
		{"PEM chain", pemOf(f.leaf, f.inter, f.root), []*x509.Certificate{f.leaf, f.inter, f.root}},
		{"RSA and ECDSA", pemOf(f.rsaRoot, f.root), []*x509.Certificate{f.rsaRoot, f.root}},
		{"openssl text between blocks",
			opensslText(f.leaf) + pemOf(f.leaf) + "\n" + opensslText(f.inter) + pemOf(f.inter) + "Bag Attributes: <none>\n",
			[]*x509.Certificate{f.leaf, f.inter}},
		{"leading and trailing whitespace", "\n\n  " + "\n" + pemOf(f.root) + "\n\n\t\n", []*x509.Certificate{f.root}},
		{"CRLF line endings", strings.ReplaceAll(pemOf(f.leaf, f.root), "\n", "\r\n"), []*x509.Certificate{f.leaf, f.root}},
		{"no newline at end", strings.TrimSuffix(pemOf(f.root), "\n"), []*x509.Certificate{f.root}},
		{"DER ECDSA", string(f.leaf.Raw), []*x509.Certificate{f.leaf}},
		{"DER RSA", string(f.rsaRoot.Raw), []*x509.Certificate{f.rsaRoot}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCertificates([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseCertificates: %v", err)
			}
			if !sameDERs(got, tt.want) {
				t.Fatalf("got %d certificates, not the expected %d (or different ones)", len(got), len(tt.want))
			}
		})
	}
}

func TestParseCertificatesErrors(t *testing.T) {
	f := testPKI()
	leafPEM := pemOf(f.leaf)
	keyPEM := pkcs8PEM(f.leafKey)
	body := leafPEM[strings.Index(leafPEM, "\n")+1 : strings.Index(leafPEM, "-----END")]
	tests := []struct {
		name      string
		in        string
		want      error
		fragments []string
	}{
		{"empty", "", ErrEmpty, nil},
		{"whitespace", " \r\n\t\n", ErrEmpty, nil},
		{"PKCS#8 key", keyPEM, ErrPrivateKey, []string{"PEM block #1", `"PRIVATE KEY"`}},
		{"PKCS#1 key after certificate", leafPEM + pkcs1PEM(f.rsaLeafKey), ErrPrivateKey, []string{"PEM block #2", `"RSA PRIVATE KEY"`}},
		{"SEC1 key before certificate", sec1PEM(f.leafKey) + leafPEM, ErrPrivateKey, []string{"PEM block #1", `"EC PRIVATE KEY"`}},
		{"encrypted key", pemBlock("ENCRYPTED PRIVATE KEY", []byte("not really")), ErrPrivateKey, []string{`"ENCRYPTED PRIVATE KEY"`}},
		{"OpenSSH key", pemBlock("OPENSSH PRIVATE KEY", []byte("not really")), ErrPrivateKey, []string{`"OPENSSH PRIVATE KEY"`}},
		{"truncated key", keyPEM[:len(keyPEM)/2], ErrPrivateKey, []string{"PEM block #1"}},
		{"key after a garbled block", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n" + keyPEM, ErrPrivateKey, []string{"PEM block #2"}},
		{"key after a CRL block", crlPEM(f.crlByInter) + keyPEM, ErrPrivateKey, []string{"PEM block #2"}},
		{"DER PKCS#8 key", string(must(x509.MarshalPKCS8PrivateKey(f.leafKey))), ErrPrivateKey, []string{"DER"}},
		{"DER PKCS#1 key", string(x509.MarshalPKCS1PrivateKey(f.rsaLeafKey)), ErrPrivateKey, []string{"DER"}},
		{"DER SEC1 key", string(must(x509.MarshalECPrivateKey(f.leafKey))), ErrPrivateKey, []string{"DER"}},
		{"CRL block", crlPEM(f.crlByInter), ErrMalformed, []string{"PEM block #1", `"X509 CRL"`, "expected CERTIFICATE"}},
		{"public key after certificate", leafPEM + pemBlock("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&f.leafKey.PublicKey))), ErrMalformed, []string{"PEM block #2", `"PUBLIC KEY"`}},
		{"TRUSTED CERTIFICATE", pemBlock("TRUSTED CERTIFICATE", f.leaf.Raw), ErrMalformed, []string{`"TRUSTED CERTIFICATE"`}},
		{"truncated block", leafPEM[:len(leafPEM)/2], ErrMalformed, []string{"PEM block #1", "truncated"}},
		{"second block truncated", leafPEM + leafPEM[:len(leafPEM)-10], ErrMalformed, []string{"PEM block #2", "truncated"}},
		{"garbled base64 then a valid block", "-----BEGIN CERTIFICATE-----\n" + body[:40] + "!" + body[41:] + "-----END CERTIFICATE-----\n" + pemOf(f.root), ErrMalformed, []string{"PEM block #1", "garbled"}},
		{"mismatched END type", strings.Replace(leafPEM, "END CERTIFICATE", "END X509 CRL", 1), ErrMalformed, []string{"PEM block #1"}},
		{"stray END line", leafPEM + body + "-----END CERTIFICATE-----\n", ErrMalformed, []string{"END line", "after PEM block #1"}},
		{"BEGIN not at line start", "oops " + leafPEM, ErrMalformed, []string{"PEM block #1", "beginning of a line"}},
		{"empty certificate block", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", ErrMalformed, []string{"PEM block #1", "not a valid certificate"}},
		{"headers", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Comment": "x"}, Bytes: f.leaf.Raw})), ErrMalformed, []string{"headers"}},
		{"not a certificate inside PEM", leafPEM + pemBlock("CERTIFICATE", []byte("hello")), ErrMalformed, []string{"PEM block #2", "not a valid certificate"}},
		{"DER with trailing garbage", string(f.leaf.Raw) + "xx", ErrMalformed, []string{"DER"}},
		{"two DER certificates", string(f.leaf.Raw) + string(f.root.Raw), ErrMalformed, []string{"DER"}},
		{"short DER", "\x30\x03\x02\x01\x01", ErrMalformed, []string{"DER"}},
		{"plain text", "hello world\n", ErrMalformed, []string{"neither PEM nor"}},
		{"binary garbage", "\x00\xff\xfe", ErrMalformed, []string{"neither PEM nor"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, err := ParseCertificates([]byte(tt.in))
			if certs != nil {
				t.Errorf("got %d certificates along with the error", len(certs))
			}
			checkErr(t, err, tt.want, tt.fragments...)
		})
	}
}

func TestParseCABundle(t *testing.T) {
	f := testPKI()
	got, err := ParseCABundle([]byte(pemOf(f.inter, f.root, f.rsaRoot)))
	if err != nil {
		t.Fatalf("ParseCABundle: %v", err)
	}
	if !sameDERs(got, []*x509.Certificate{f.inter, f.root, f.rsaRoot}) {
		t.Fatalf("wrong certificates")
	}
	if _, err := ParseCABundle(f.root.Raw); err != nil {
		t.Fatalf("DER root: %v", err)
	}

	tests := []struct {
		name      string
		in        string
		want      error
		fragments []string
	}{
		{"empty", "", ErrEmpty, nil},
		{"leaf", pemOf(f.root, f.leaf), ErrNotCA, []string{"certificate #2", "CN=www.example.com", "CA=false"}},
		{"non-CA", pemOf(f.nonCA), ErrNotCA, []string{"certificate #1", "CN=Not A CA"}},
		{"no basicConstraints", pemOf(f.root, f.inter, f.noBC), ErrNotCA, []string{"certificate #3", "CN=No Basic Constraints", "basicConstraints"}},
		{"no keyCertSign", pemOf(f.noCertSign), ErrNotCA, []string{"certificate #1", "keyCertSign"}},
		{"duplicate", pemOf(f.root, f.inter, f.root), ErrMalformed, []string{"certificate #3", "duplicate of certificate #1"}},
		{"private key", pemOf(f.root) + pkcs8PEM(f.rootKey), ErrPrivateKey, []string{"PEM block #2"}},
		{"garbage", "garbage", ErrMalformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCABundle([]byte(tt.in))
			checkErr(t, err, tt.want, tt.fragments...)
		})
	}
}

func TestEncodePEMRoundTrip(t *testing.T) {
	f := testPKI()
	in := []*x509.Certificate{f.leaf, f.inter, f.root, f.rsaRoot}
	out := EncodePEM(in)
	if strings.Count(out, "-----BEGIN CERTIFICATE-----\n") != 4 {
		t.Fatalf("EncodePEM output has unexpected shape:\n%s", out)
	}
	back, err := ParseCertificates([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if !sameDERs(in, back) {
		t.Fatal("round trip changed the certificates")
	}
	if EncodePEM(nil) != "" {
		t.Fatal("EncodePEM(nil) is not empty")
	}
}

func TestFingerprint(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 test vector.
	if got, want := Fingerprint([]byte("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("Fingerprint(abc) = %s, want %s", got, want)
	}
	c := testPKI().leaf
	sum := sha256.Sum256(c.Raw)
	if got := Fingerprint(c.Raw); got != hex.EncodeToString(sum[:]) || strings.ToLower(got) != got || len(got) != 64 {
		t.Errorf("Fingerprint(leaf) = %s", got)
	}
}

func TestSerialHex(t *testing.T) {
	huge, _ := new(big.Int).SetString("00ABCDEF0123456789abcdef0123456789", 16)
	tests := []struct {
		in   *big.Int
		want string
	}{
		{nil, ""},
		{big.NewInt(0), "0"},
		{big.NewInt(1), "1"},
		{big.NewInt(10), "A"},
		{big.NewInt(255), "FF"},
		{big.NewInt(256), "100"},
		{big.NewInt(0x0abc), "ABC"},
		{big.NewInt(-1), "-1"},
		{big.NewInt(-255), "-FF"},
		{big.NewInt(-0x1234abcd), "-1234ABCD"},
		{huge, "ABCDEF0123456789ABCDEF0123456789"},
		{new(big.Int).Neg(huge), "-ABCDEF0123456789ABCDEF0123456789"},
	}
	for _, tt := range tests {
		if got := SerialHex(tt.in); got != tt.want {
			t.Errorf("SerialHex(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestInfo(t *testing.T) {
	f := testPKI()
	if Info(nil) != nil {
		t.Error("Info(nil) is not nil")
	}
	li := Info(f.leaf)
	if li.GetSubject() != "CN=www.example.com" {
		t.Errorf("subject = %q", li.GetSubject())
	}
	if li.GetIssuer() != "CN=Test Intermediate CA,O=mtlsgate test" {
		t.Errorf("issuer = %q", li.GetIssuer())
	}
	if li.GetSha256Fingerprint() != Fingerprint(f.leaf.Raw) {
		t.Errorf("fingerprint = %q", li.GetSha256Fingerprint())
	}
	if li.GetSerial() != SerialHex(f.leaf.SerialNumber) || li.GetSerial() == "" {
		t.Errorf("serial = %q", li.GetSerial())
	}
	if !li.GetNotBefore().AsTime().Equal(f.leaf.NotBefore) || !li.GetNotAfter().AsTime().Equal(f.leaf.NotAfter) {
		t.Errorf("validity = %v..%v", li.GetNotBefore().AsTime(), li.GetNotAfter().AsTime())
	}
	if li.GetIsCa() {
		t.Error("leaf reported as CA")
	}
	if !slices.Equal(li.GetDnsNames(), []string{"www.example.com", "*.api.example.com"}) {
		t.Errorf("dns_names = %q", li.GetDnsNames())
	}
	ri := Info(f.root)
	if !ri.GetIsCa() || ri.GetSubject() != ri.GetIssuer() || ri.GetDnsNames() != nil {
		t.Errorf("root info = %v", ri)
	}
	if Info(f.noBC).GetIsCa() {
		t.Error("certificate without basicConstraints reported as CA")
	}
	if ei := Info(f.expired); !ei.GetNotAfter().AsTime().Before(time.Now()) {
		t.Errorf("expired certificate's info has not_after %v", ei.GetNotAfter().AsTime())
	}
}
