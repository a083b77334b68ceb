package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"software.sslmate.com/src/go-pkcs12"
)

// p12Fixture is a chain for PKCS#12 tests: a CA and a leaf it issued.
type p12Fixture struct {
	ca, leaf *x509.Certificate
	leafKey  any
}

// p12Fix builds the fixture once.
var p12Fix = sync.OnceValue(func() p12Fixture {
	caKey, leafKey := newECKey(), newECKey()
	ca := issue(caTemplate("p12 ca"), nil, caKey.Public(), caKey)
	leaf := issue(leafTemplate("p12 leaf"), ca, leafKey.Public(), caKey)
	return p12Fixture{ca: ca, leaf: leaf, leafKey: leafKey}
})

// p12Case is one input of TestPKCS12Certificates.
type p12Case struct {
	name     string
	data     []byte
	password string
	want     error    // nil: success, with certificates leaf then ca
	frags    []string // fragments of the error message
	skip     string   // why the case cannot run here
}

// p12Sentinels are the errors PKCS12Certificates wraps: the package's (ErrPKCS12Password among them).
var p12Sentinels = sentinels

// checkP12Err fails unless err wraps exactly one sentinel, want, and
// mentions every fragment.
func checkP12Err(t testing.TB, err, want error, frags ...string) {
	t.Helper()
	n := 0
	for _, s := range p12Sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 || (want != nil && !errors.Is(err, want)) {
		t.Fatalf("error %v: wraps %d sentinels, want exactly %v", err, n, want)
	}
	for _, f := range frags {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

// goP12 encodes the fixture with a go-pkcs12 encoder.
func goP12(enc *pkcs12.Encoder, password string) []byte {
	fx := p12Fix()
	return must(enc.Encode(fx.leafKey, fx.leaf, []*x509.Certificate{fx.ca}, password))
}

// opensslP12 runs `openssl pkcs12 -export` on the fixture with args, or
// returns why it cannot.
func opensslP12(t *testing.T, password string, args ...string) ([]byte, string) {
	if _, err := exec.LookPath("openssl"); err != nil {
		return nil, "openssl is not installed"
	}
	fx := p12Fix()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := filepath.Join(dir, "out.p12")
	cmd := exec.Command("openssl", append([]string{"pkcs12", "-export", "-in", write("leaf.pem", pemOf(fx.leaf)),
		"-inkey", write("key.pem", pkcs8PEM(fx.leafKey)), "-certfile", write("ca.pem", pemOf(fx.ca)),
		"-passout", "pass:" + password, "-out", out}, args...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, "this openssl cannot run pkcs12 -export " + strings.Join(args, " ") + ": " + strings.TrimSpace(string(msg))
	}
	return must(os.ReadFile(out)), ""
}

// hostileKeyPFX is a file whose certificate and shrouded key bag are
// encrypted together, the key bag with an iteration count of 2^40.
func hostileKeyPFX() []byte {
	fx := p12Fix()
	safe := safeContentsDER(certBagOf(fx.leaf.Raw), shroudedKeyBag(testPBES2{iter: 1 << 40}), certBagOf(fx.ca.Raw))
	return pfxOf(encryptedContent(safe, modernPBES2, "pw"))
}

// p12Cases are the table of TestPKCS12Certificates (also fuzz seeds).
func p12Cases(t *testing.T) []p12Case {
	fx := p12Fix()
	leafCA := safeContentsDER(certBagOf(fx.leaf.Raw), certBagOf(fx.ca.Raw))
	cases := []p12Case{
		{name: "go-pkcs12 Modern", data: goP12(pkcs12.Modern, "pw"), password: "pw"},
		{name: "go-pkcs12 Modern2023", data: goP12(pkcs12.Modern2023, "pw"), password: "pw"},
		{name: "go-pkcs12 Modern2026 (PBMAC1)", data: goP12(pkcs12.Modern2026, "pw"), password: "pw"},
		{name: "go-pkcs12 LegacyDES", data: goP12(pkcs12.LegacyDES, "pässwörd"), password: "pässwörd"},
		{name: "go-pkcs12 Passwordless", data: goP12(pkcs12.Passwordless, ""), password: ""},
		{name: "go-pkcs12 Modern UTF-8 password", data: goP12(pkcs12.Modern, "pässwörd"), password: "pässwörd"},
		{name: "go-pkcs12 LegacyRC2 refused", data: goP12(pkcs12.LegacyRC2, "pw"), password: "pw",
			want: ErrMalformed, frags: []string{"legacy RC2/RC4", "-certpbe AES-256-CBC", "PEM"}},
		{name: "go-pkcs12 Modern wrong password", data: goP12(pkcs12.Modern, "pw"), password: "pW", want: ErrPKCS12Password},
		{name: "go-pkcs12 LegacyDES wrong password", data: goP12(pkcs12.LegacyDES, "pw"), password: "", want: ErrPKCS12Password},
		{name: "hidden key bag with 2^40 iterations", data: hostileKeyPFX(), password: "pw"},
		{name: "visible key bag with 2^40 iterations", password: "pw",
			data: pfxOf(dataContent(safeContentsDER(shroudedKeyBag(testPBES2{iter: 1 << 40}))), dataContent(leafCA))},
		{name: "nested safe contents", password: "pw", data: pfxOf(dataContent(safeContentsDER(certBagOf(fx.leaf.Raw),
			nestedBag(nestedBag(nestedBag(certBagOf(fx.ca.Raw)))))))},
		{name: "nested too deep", password: "pw", want: ErrMalformed, frags: []string{"nested more than 4"},
			data: pfxOf(dataContent(safeContentsDER(nestedBag(nestedBag(nestedBag(nestedBag(certBagOf(fx.ca.Raw))))))))},
		{name: "PBES2 SHA-1 default PRF, AES-128", password: "pw",
			data: pfxOf(encryptedContent(leafCA, testPBES2{iter: 1, enc: oidAES128CBC, keyLen: 16}, "pw"))},
		{name: "PBES2 SHA-512, AES-192", password: "pw",
			data: pfxOf(encryptedContent(leafCA, testPBES2{iter: 3, enc: oidAES192CBC, prf: asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}}, "pw"))},
		{name: "PBES2 DES-EDE3-CBC", password: "pw", data: pfxOf(encryptedContent(leafCA, testPBES2{iter: 5, enc: oidDESEDE3CBC}, "pw"))},
		{name: "key length disagreeing", password: "pw", want: ErrMalformed, frags: []string{"key length is 16", "needs 32"},
			data: pfxOf(encryptedContent(leafCA, testPBES2{iter: 1, keyLen: 16}, "pw"))},
		{name: "visible count above the bound", password: "pw", want: ErrMalformed, frags: []string{"iteration count is above 1048576"},
			data: pfxOf(encryptedContent(leafCA, testPBES2{iter: MaxPKCS12Iterations + 1}, "pw"))},
		{name: "visible count 2^40", password: "pw", want: ErrMalformed, frags: []string{"iteration count is above"},
			data: pfxOf(encryptedContent(leafCA, testPBES2{iter: 1 << 40}, "pw"))},
		{name: "zero count", password: "pw", want: ErrMalformed, frags: []string{"iteration count is 0"},
			data: pfxOf(encryptedContent(leafCA, testPBES2{iter: 0}, "pw"))},
		{name: "long salt", password: "pw", want: ErrMalformed, frags: []string{"salt is 1025 bytes"},
			data: pfxOf(encryptedContent(leafCA, testPBES2{iter: 1, salt: make([]byte, 1025)}, "pw"))},
		{name: "too many encryptedData", password: "pw", want: ErrMalformed, frags: []string{"more than 8 encryptedData"},
			data: pfxOf(repeatContent(encryptedContent(safeContentsDER(), testPBES2{iter: 1}, "pw"), 9)...)},
		{name: "too many bags", password: "pw", want: ErrMalformed, frags: []string{"more than 64 safe bags"},
			data: pfxOf(dataContent(safeContentsDER(repeatContent(shroudedKeyBag(testPBES2{iter: 1}), 65)...)))},
		{name: "too many certificates", password: "pw", want: ErrMalformed, frags: []string{"more than 16 certificates"},
			data: pfxOf(dataContent(safeContentsDER(repeatContent(certBagOf(fx.ca.Raw), 17)...)))},
		{name: "no certificate", password: "pw", want: ErrEmpty, data: pfxOf(dataContent(safeContentsDER()))},
		{name: "unknown bag type", password: "pw", want: ErrMalformed, frags: []string{"bag #1 has unknown bag type"},
			data: pfxOf(dataContent(safeContentsDER(safeBag(7, func(b *cryptobyte.Builder) { b.AddASN1NULL() }))))},
		{name: "enveloped data", password: "pw", want: ErrMalformed, frags: []string{"envelopedData"},
			data: pfxOf(contentInfo(oidP12Enveloped, func(b *cryptobyte.Builder) { b.AddASN1NULL() }))},
		{name: "RC4 refused", password: "pw", want: ErrMalformed, frags: []string{"legacy RC2/RC4"},
			data: pfxOf(encryptedWith(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 1}))},
		{name: "PBES1 refused", password: "pw", want: ErrMalformed, frags: []string{"unsupported encryption algorithm 1.2.840.113549.1.5.10"},
			data: pfxOf(encryptedWith(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 10}))},
		{name: "BER go-pkcs12 Modern", data: berify(goP12(pkcs12.Modern, "pw")), password: "pw"},
		{name: "BER inside encryption too", password: "pw", data: berify(pfxOf(
			encryptedContent(berify(safeContentsDER(certBagOf(fx.leaf.Raw))), modernPBES2, "pw"),
			dataContent(safeContentsDER(certBagOf(fx.ca.Raw)))))},
		{name: "BER without end-of-contents", password: "pw", want: ErrMalformed, frags: []string{"missing end-of-contents"},
			data: []byte{0x30, 0x80, 0x02, 0x01, 0x03}},
		{name: "BER nested too deep", password: "pw", want: ErrMalformed, frags: []string{"nested more than 32"},
			data: append(bytes.Repeat([]byte{0x30, 0x80}, 40), bytes.Repeat([]byte{0, 0}, 40)...)},
		{name: "empty", want: ErrEmpty},
		{name: "garbage", data: []byte("hello, world"), want: ErrMalformed},
		{name: "not a certificate in a cert bag", password: "pw", want: ErrMalformed, frags: []string{"bag #1: certificate"},
			data: pfxOf(dataContent(safeContentsDER(certBagOf([]byte{0x30, 0}))))},
	}
	full := goP12(pkcs12.Modern, "pw")
	for _, n := range []int{1, 20, len(full) / 2, len(full) - 1} {
		cases = append(cases, p12Case{name: "truncated to " + strconv.Itoa(n), data: full[:n], password: "pw", want: ErrMalformed})
	}
	for _, o := range []struct {
		name, password string
		args           []string
		want           error
		frags          []string
	}{
		{name: "openssl default", password: "pw"},
		{name: "openssl UTF-8 password", password: "pässwörd"},
		{name: "openssl -nomaciter", password: "pw", args: []string{"-nomaciter"}},
		{name: "openssl -nomac", password: "pw", args: []string{"-nomac"}},
		{name: "openssl -certpbe NONE", password: "pw", args: []string{"-certpbe", "NONE"}},
		{name: "openssl -certpbe AES-128-CBC", password: "pw", args: []string{"-certpbe", "AES-128-CBC"}},
		{name: "openssl -certpbe DES-EDE3-CBC", password: "pw", args: []string{"-certpbe", "DES-EDE3-CBC"}},
		{name: "openssl -certpbe PBE-SHA1-3DES", password: "pässwörd", args: []string{"-certpbe", "PBE-SHA1-3DES"}},
		{name: "openssl -certpbe PBE-SHA1-2DES", password: "pw", args: []string{"-certpbe", "PBE-SHA1-2DES"}},
		{name: "openssl -iter 100000", password: "pw", args: []string{"-iter", "100000"}},
		{name: "openssl empty password", password: ""},
		{name: "openssl empty password, PBE-SHA1-3DES", password: "", args: []string{"-certpbe", "PBE-SHA1-3DES"}},
		{name: "openssl -legacy (RC2) refused", password: "pw", args: []string{"-legacy"},
			want: ErrMalformed, frags: []string{"legacy RC2/RC4"}},
		{name: "openssl wrong password", password: "pw", want: ErrPKCS12Password},
	} {
		data, skip := opensslP12(t, o.password, o.args...)
		pw := o.password
		if o.want == ErrPKCS12Password {
			pw = "wrong"
		}
		cases = append(cases, p12Case{name: o.name, data: data, password: pw, want: o.want, frags: o.frags, skip: skip})
	}
	return cases
}

// TestPKCS12Certificates reads files of every supported shape, refuses
// the others with the right error, and never decrypts a key bag.
func TestPKCS12Certificates(t *testing.T) {
	fx := p12Fix()
	for _, c := range p12Cases(t) {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			certs, err := PKCS12Certificates(c.data, c.password)
			if c.want != nil {
				if certs != nil {
					t.Error("certificates returned along with an error")
				}
				checkP12Err(t, err, c.want, c.frags...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameDERs(certs, []*x509.Certificate{fx.leaf, fx.ca}) {
				t.Fatalf("got %d certificates, want the leaf then the CA", len(certs))
			}
			if leaf, err := PKCS12Leaf(certs); err != nil || leaf != certs[0] {
				t.Fatalf("PKCS12Leaf: %v", err)
			}
		})
	}
}

// TestPKCS12CostlyPatched: as store's test does, every 65536 count of a
// go-pkcs12 file is patched to 8,388,607; the certificates' count is
// visible, hence refused before deriving.
func TestPKCS12CostlyPatched(t *testing.T) {
	p12 := goP12(pkcs12.Modern.WithIterations(1<<16), "pw")
	if _, err := PKCS12Certificates(p12, "pw"); err != nil {
		t.Fatal(err)
	}
	costly := bytes.ReplaceAll(p12, []byte{0x02, 0x03, 0x01, 0x00, 0x00}, []byte{0x02, 0x03, 0x7f, 0xff, 0xff})
	if bytes.Equal(costly, p12) {
		t.Fatal("no iteration count found to patch")
	}
	_, err := PKCS12Certificates(costly, "pw")
	checkP12Err(t, err, ErrMalformed, "iteration count is above")
}

// TestPKCS12Limits: the input and password bounds.
func TestPKCS12Limits(t *testing.T) {
	_, err := PKCS12Certificates(make([]byte, MaxPKCS12Bytes+1), "")
	checkP12Err(t, err, ErrMalformed, "more than 1048576")
	_, err = PKCS12Certificates(goP12(pkcs12.Modern, "pw"), strings.Repeat("p", 1025))
	checkP12Err(t, err, ErrMalformed, "password is longer")
}

// TestPKCS12Budget: the key derivations of a file share one budget of
// hash rounds (the iteration bound is lowered to keep the test quick).
func TestPKCS12Budget(t *testing.T) {
	defer func(n int) { p12IterLimit = n }(p12IterLimit)
	p12IterLimit = 1000
	fx := p12Fix()
	// SHA-1 for a 32-byte AES-256 key: 2 blocks of 1000 rounds each.
	item := func(der []byte) p12Build {
		return encryptedContent(safeContentsDER(certBagOf(der)), testPBES2{iter: 1000}, "pw")
	}
	certs, err := PKCS12Certificates(pfxOf(item(fx.leaf.Raw), item(fx.ca.Raw)), "pw")
	if err != nil || !sameDERs(certs, []*x509.Certificate{fx.leaf, fx.ca}) {
		t.Fatalf("two items within the budget: %v", err)
	}
	_, err = PKCS12Certificates(pfxOf(item(fx.leaf.Raw), item(fx.ca.Raw), item(fx.ca.Raw)), "pw")
	checkP12Err(t, err, ErrMalformed, "item #3", "more than 4000 hash rounds")
	_, err = PKCS12Certificates(pfxOf(encryptedContent(safeContentsDER(), testPBES2{iter: 1001}, "pw")), "pw")
	checkP12Err(t, err, ErrMalformed, "iteration count is above 1000")
}

// TestPKCS12Leaf picks the one non-CA certificate, and names the count
// otherwise.
func TestPKCS12Leaf(t *testing.T) {
	fx := p12Fix()
	for _, c := range []struct {
		name  string
		certs []*x509.Certificate
		want  error
		frag  string
	}{
		{"leaf after CA", []*x509.Certificate{fx.ca, fx.leaf}, nil, ""},
		{"only CAs", []*x509.Certificate{fx.ca}, ErrMalformed, "holds 0 certificates that are not CAs"},
		{"two leaves", []*x509.Certificate{fx.leaf, fx.ca, fx.leaf}, ErrMalformed, "holds 2 certificates"},
		{"none", nil, ErrEmpty, "no certificate"},
	} {
		leaf, err := PKCS12Leaf(c.certs)
		if c.want == nil {
			if err != nil || leaf != fx.leaf {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		checkP12Err(t, err, c.want, c.frag)
	}
}

// FuzzPKCS12Certificates: any input either yields 1 to 16 parsed
// certificates or an error wrapping exactly one sentinel.
func FuzzPKCS12Certificates(f *testing.F) {
	// Counts make executions slow (minimizing runs thousands): the seeds
	// added here use 1, the stored ones mostly 2048 and are refused early.
	defer func(n int) { p12IterLimit = n }(p12IterLimit)
	p12IterLimit = 64
	f.Add(goP12(pkcs12.Modern.WithIterations(1), "pw"), "pw")
	f.Add(goP12(pkcs12.LegacyDES.WithIterations(1), "pw"), "pw")
	f.Add(goP12(pkcs12.Passwordless, ""), "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		certs, err := PKCS12Certificates(data, password)
		if err != nil {
			if certs != nil {
				t.Fatal("certificates returned along with an error")
			}
			checkP12Err(t, err, nil)
			return
		}
		if len(certs) == 0 || len(certs) > maxP12Certs {
			t.Fatalf("%d certificates", len(certs))
		}
		if _, err := PKCS12Leaf(certs); err != nil {
			checkP12Err(t, err, nil)
		}
	})
}
