package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/adversarial"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
)

// checkScanMatchesOld fails unless the linear scanner finds the same
// private key block, the same blocks and the same error as the old one.
func checkScanMatchesOld(t *testing.T, data []byte) {
	t.Helper()
	n, typ := findPrivateKeyBlock(data)
	on, otyp := oldFindPrivateKeyBlock(data)
	if n != on || typ != otyp {
		t.Fatalf("findPrivateKeyBlock(%q) = %d, %q; old: %d, %q", data, n, typ, on, otyp)
	}
	blocks, err := scanPEM(data)
	oblocks, oerr := oldScanPEM(data)
	if fmt.Sprint(err) != fmt.Sprint(oerr) {
		t.Fatalf("scanPEM(%q): error %v; old: %v", data, err, oerr)
	}
	if !sameBlocks(blocks, oblocks) {
		t.Fatalf("scanPEM(%q): blocks %v; old: %v", data, blocks, oblocks)
	}
}

// sameBlocks compares blocks field by field (a nil and an empty Bytes are
// the same).
func sameBlocks(a, b []*pem.Block) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || string(a[i].Bytes) != string(b[i].Bytes) ||
			!reflect.DeepEqual(a[i].Headers, b[i].Headers) {
			return false
		}
	}
	return true
}

// pemEdgeCases are inputs at the edges of the PEM rules: headers, missing
// and extra lines, CRLF, spaces, markers in odd places.
var pemEdgeCases = []string{
	"",
	"-----BEGIN",
	"-----BEGIN A-----",
	"-----BEGIN A-----\n",
	"-----BEGIN A-----\n-----END A-----",
	"-----BEGIN A-----\n-----END A-----\n",
	"-----BEGIN A-----\r\n-----END A-----\r\n",
	"-----BEGIN A-----  \t\n-----END A----- \t\r\n",
	"-----BEGIN A-----\n-----END A-----\r \n",
	"-----BEGIN A-----\n-----END A-----x\n",
	"-----BEGIN A-----\n-----END B-----\n",
	"-----BEGIN A-----\n-----END AB-----\n",
	"-----BEGIN A-----\n-----END A----\n",
	"-----BEGIN A-----\n-----END A",
	"-----BEGIN A-----\nAQID\n-----END A-----\n",
	"-----BEGIN A-----\nAQ ID\n-----END A-----\n",
	"-----BEGIN A-----\nAQ\tI\r\nD\n-----END A-----\n",
	"-----BEGIN A-----\nAQI\n-----END A-----\n",
	"-----BEGIN A-----\nAQ==\n-----END A-----\n",
	"-----BEGIN A-----\nAQ==AQ==\n-----END A-----\n",
	"-----BEGIN A-----\nK: V\n-----END A-----\n",
	"-----BEGIN A-----\nK: V\n\n-----END A-----\n",
	"-----BEGIN A-----\nK: V\nK2 :  V2 \n\nAQID\n-----END A-----\n",
	"-----BEGIN A-----\nK: V\nAQID\n-----END A-----\n",
	"-----BEGIN A-----\n-----END A:-----\n",
	"-----BEGIN A-----\nK: -----END A-----\n-----END A-----\n",
	"-----BEGIN A-----\nK: -----BEGIN B-----\n\n-----END A-----\n",
	"-----BEGIN A-----\nx-----END A-----\n-----END A-----\n",
	"-----BEGIN A-----\n-----BEGIN B-----\n-----END B-----\n",
	"-----BEGIN A-----\n-----ENDA-----\n-----END A-----\n",
	"-----BEGIN A-----\n-----END A-----\n-----BEGIN B-----\n-----END B-----\n",
	"-----BEGIN A-----\n-----END A----- -----BEGIN B-----\n-----END B-----\n",
	"-----BEGIN A-----\n-----END A-----\ntext\n-----BEGIN B-----\n-----END B-----\ntext",
	"-----BEGIN A-----\n-----END A-----\ntext -----END\n",
	"text-----BEGIN A-----\n-----END A-----\n",
	"-----BEGINA-----\n-----ENDA-----\n",
	"-----BEGIN -----\n-----END -----\n",
	"-----BEGIN A----------BEGIN PRIVATE KEY-----\n",
	"-----BEGIN A -----BEGIN PRIVATE KEY-----\n-----END A-----\n",
	"-----BEGIN A-----\n-----BEGIN RSA PRIVATE KEY-----\n",
	"-----BEGIN\n-----BEGIN\n-----BEGIN pRıvate KEY\n",
	"-----BEGIN \xff\xfe PRIVATE KEY-----\n",
	"-----END A-----\n-----BEGIN A-----\n",
	"-----BEGIN A-----\n-----END A-----\n-----END A-----\n",
	"-----BEGIN A-----\n\n\n-----END A-----\n",
	"-----BEGIN A-----\n \n-----END A-----\n",
	"-----BEGIN A-----\r\n\r\n-----END A-----\r\n",
	"-----BEGIN A-----\rK: V\n-----END A-----\n",
	"-----BEGIN A-----\nK: V\r\n\r\n-----END A-----\n",
}

// TestScanPEMMatchesOld checks the linear scanner against the old one on
// the edge cases, the fuzz corpora and small hostile shapes.
func TestScanPEMMatchesOld(t *testing.T) {
	for _, s := range pemEdgeCases {
		checkScanMatchesOld(t, []byte(s))
	}
	for _, dir := range []string{"FuzzParseCertificates", "FuzzParseCRL", "FuzzScanPEM"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", dir, "*"))
		for _, f := range files {
			if data, ok := corpusBytes(t, f); ok {
				checkScanMatchesOld(t, data)
			}
		}
	}
	for _, in := range adversarial.PEM(4 << 10) {
		checkScanMatchesOld(t, in.Data)
	}
	fx := testPKI()
	checkScanMatchesOld(t, []byte(pemOf(fx.leaf, fx.inter, fx.root)+pkcs8PEM(fx.leafKey)+crlPEM(fx.crlByInter)))
}

// corpusBytes reads the one []byte value of a go test fuzz v1 corpus file.
func corpusBytes(t *testing.T, path string) ([]byte, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 2)
	if len(lines) < 2 || lines[0] != "go test fuzz v1" {
		return nil, false
	}
	var s string
	if _, err := fmt.Sscanf(strings.TrimSpace(lines[1]), "[]byte(%q)", &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

// FuzzScanPEM checks the linear scanner against the old one, and its bound
// on the bytes it examines.
func FuzzScanPEM(f *testing.F) {
	for _, s := range pemEdgeCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanMatchesOld(t, data)
		checkScanBound(t, data)
	})
}

// scanBound is how many times the PEM scanner may look at each input byte.
const scanBound = 8

// checkScanBound fails if scanning data for private keys and blocks looks
// at more than scanBound bytes per input byte (plus a constant).
func checkScanBound(t *testing.T, data []byte) {
	t.Helper()
	var s pemScanner
	s.findPrivateKeyBlock(data)
	s.scanPEM(data)
	if s.examined > scanBound*len(data)+64 {
		t.Fatalf("scanning %d bytes examined %d bytes, more than %d per byte", len(data), s.examined, scanBound)
	}
}

// TestFinding9_PEMScanIsLinear is finding 9 (PEM scanning quadratic in the
// number of BEGIN markers: 0.57 s for 64 KiB, 7.1 s for 256 KiB) measured
// without a clock: the scanner counts the bytes it examines, and over every
// hostile shape that count stays within scanBound per input byte. The old
// scanner looked at the rest of the line for every BEGIN marker (about
// 3,000 bytes per byte for 64 KiB of "-----BEGIN X").
func TestFinding9_PEMScanIsLinear(t *testing.T) {
	for _, size := range []int{64 << 10, 1 << 20} {
		for _, in := range adversarial.PEM(size) {
			t.Run(fmt.Sprintf("%s/%dKiB", in.Name, size>>10), func(t *testing.T) {
				checkScanBound(t, in.Data)
			})
		}
	}
}

// allocBound is how many bytes the PEM parsers may allocate per input byte
// refusing hostile input.
const allocBound = 16

// TestFinding9_PEMParsersAllocateLinearly runs the public parsers over the
// hostile shapes and fails if one allocates more than allocBound bytes per
// input byte: a deterministic stand-in for time that also catches work
// outside the scanner. The old code copied the rest of the line for every
// BEGIN marker, about 200 MB for 64 KiB.
func TestFinding9_PEMParsersAllocateLinearly(t *testing.T) {
	parsers := map[string]func([]byte){
		"ParseCertificates":      func(d []byte) { _, _ = ParseCertificates(d) },
		"ParseCABundle":          func(d []byte) { _, _ = ParseCABundle(d) },
		"ParseCRL":               func(d []byte) { _, _ = ParseCRL(d) },
		"ParseVerifiedCRL":       func(d []byte) { _, _ = ParseVerifiedCRL(d, nil) },
		"ParseServerCertificate": func(d []byte) { _, _, _ = ParseServerCertificate(d, d) },
	}
	size := 64 << 10
	for _, in := range adversarial.PEM(size) {
		for name, parse := range parsers {
			t.Run(in.Name+"/"+name, func(t *testing.T) {
				if got := allocated(func() { parse(in.Data) }); got > allocBound*uint64(size)+64<<10 {
					t.Errorf("%s allocated %d bytes for %d bytes of %s, more than %d per byte", name, got, size, in.Name, allocBound)
				}
			})
		}
	}
}

// allocated returns the bytes f allocates (the process's total: the tests
// of this package do not run in parallel).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFuzzParseCertificates_86dd9b2b_MarkerCase is the input
// FuzzParseCertificates reported as 86dd9b2b38196c09 ("-----BEgINPRIVATE
// KEY"): its oracle matched the BEGIN marker without regard to case, where
// every PEM reader (and this one) wants "-----BEGIN" exactly. The marker is
// case-sensitive; the type after it is not, under upper-casing or folding.
func TestFuzzParseCertificates_86dd9b2b_MarkerCase(t *testing.T) {
	for _, c := range []struct {
		in   string
		want error
	}{
		{"-----BEgINPRIVATE KEY", ErrMalformed},
		{"-----begin private key-----\nAAAA\n-----end private key-----\n", ErrMalformed},
		{"-----BEGIN private key-----\nAAAA\n-----END private key-----\n", ErrPrivateKey},
		{"-----BEGIN PRıVATE KEY-----\nAAAA\n-----END PRıVATE KEY-----\n", ErrPrivateKey},           // dotless i
		{"-----BEGIN PRIVATE \u212aEY-----\nAAAA\n-----END PRIVATE \u212aEY-----\n", ErrPrivateKey}, // Kelvin sign
	} {
		_, err := ParseCertificates([]byte(c.in))
		if !errors.Is(err, c.want) {
			t.Errorf("ParseCertificates(%q) = %v, want %v", c.in, err, c.want)
		}
		if keyBeginLine.MatchString(c.in) && c.want != ErrPrivateKey {
			t.Errorf("fuzz oracle keyBeginLine sees a private key in %q", c.in)
		}
	}
}

// TestFinding9_CRLParsersAllocateLinearly checks the DER side of finding 9
// the same way: every CRL parser allocates at most 6 times as much for a
// hostile CRL 4 times as large (16 times for quadratic work).
func TestFinding9_CRLParsersAllocateLinearly(t *testing.T) {
	const small, large = 64 << 10, 256 << 10
	inputs := map[int][]adversarial.Input{}
	issuers := map[int][]*x509.Certificate{}
	for _, size := range []int{small, large} {
		crls, ca, err := adversarial.CRLs(size)
		if err != nil {
			t.Fatal(err)
		}
		inputs[size] = append(crls, adversarial.Input{Name: "nested-der", Data: adversarial.NestedDER(size)})
		issuers[size] = []*x509.Certificate{ca}
	}
	parsers := map[string]func(size int, d []byte){
		"ParseVerifiedCRL": func(size int, d []byte) { _, _ = ParseVerifiedCRL(d, issuers[size]) },
		"crlset.Parse":     func(_ int, d []byte) { _, _ = crlset.Parse(d) },
		"ParseCRL":         func(_ int, d []byte) { _, _ = ParseCRL(d) },
	}
	for i, in := range inputs[small] {
		for name, parse := range parsers {
			t.Run(in.Name+"/"+name, func(t *testing.T) {
				a := allocated(func() { parse(small, in.Data) })
				b := allocated(func() { parse(large, inputs[large][i].Data) })
				t.Logf("%d bytes allocated for %d KiB, %d for %d KiB", a, small>>10, b, large>>10)
				if b > 6*a+64<<10 {
					t.Errorf("%s allocated %d bytes for %d bytes of %s and %d bytes for %d bytes", name, a, small, in.Name, b, large)
				}
			})
		}
	}
}

// TestQuoteCutsBeforeQuoting checks that quote, which now quotes only the
// head of a long string, says what quoting the whole string and cutting
// said, for strings around the cut and with escapes.
func TestQuoteCutsBeforeQuoting(t *testing.T) {
	old := func(s string) string {
		q := strconv.Quote(s)
		if len(q) <= maxQuoted {
			return q
		}
		for n := min(len(s), maxQuoted); n > 0; n-- {
			if q = strconv.Quote(s[:n]); len(q) <= maxQuoted {
				break
			}
		}
		return q + "..."
	}
	for _, unit := range []string{"a", "\xff", "é", "\n", "\"", "ab\x00"} {
		for n := 0; n <= 100; n++ {
			s := strings.Repeat(unit, n)
			if got, want := quote(s), old(s); got != want {
				t.Fatalf("quote(%q) = %s, want %s", s, got, want)
			}
		}
	}
}
