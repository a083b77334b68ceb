package originhdr

import (
	"bufio"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	mtlsgatev1 "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

const (
	encRFC9440 = mtlsgatev1.CertEncoding_CERT_ENCODING_RFC9440
	encBase64  = mtlsgatev1.CertEncoding_CERT_ENCODING_BASE64_DER
	encURLPEM  = mtlsgatev1.CertEncoding_CERT_ENCODING_URL_PEM
	encNone    = mtlsgatev1.CertEncoding_CERT_ENCODING_NONE
)

// isValidFieldValue is the test's own statement of an acceptable header
// value: non-empty, valid UTF-8, no CR, LF, NUL or other control byte, no
// surrounding space or tab (OWS, which HTTP strips).
func isValidFieldValue(v string) bool {
	if v == "" || !utf8.ValidString(v) || strings.Trim(v, " \t") != v {
		return false
	}
	return !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// goldenLeaf is a client certificate with fixed serial, dates and SANs.
func goldenLeaf(t testing.TB) *x509.Certificate {
	t.Helper()
	root := testpki.NewRoot(t, "Golden Root", testpki.Options{})
	return root.Leaf(t, "alice", testpki.Options{
		Serial:    big.NewInt(0x00C0FFEE01),
		NotBefore: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)),
		NotAfter:  time.Date(2027, 12, 31, 23, 59, 59, 0, time.UTC),
		DNS:       []string{"alice.example.com", "a.example.org"},
		URIs:      []string{"spiffe://example.org/ns/a/sa/alice", "https://x.example/p,q"},
		Email:     []string{"alice@example.com"},
	}).Cert
}

func TestFieldsOfGolden(t *testing.T) {
	leaf := goldenLeaf(t)
	sum := sha256.Sum256(leaf.Raw)
	b64 := base64.StdEncoding.EncodeToString(leaf.Raw)
	want := Fields{
		Fingerprint:   hex.EncodeToString(sum[:]),
		Subject:       "CN=alice,O=mtlsgate test",
		Issuer:        "CN=Golden Root,O=mtlsgate test",
		Serial:        "C0FFEE01",
		NotBefore:     "2025-01-02T02:04:05Z",
		NotAfter:      "2027-12-31T23:59:59Z",
		SANDNS:        "alice.example.com,a.example.org",
		SANURI:        "spiffe://example.org/ns/a/sa/alice,https://x.example/p%2Cq",
		SANEmail:      "alice@example.com",
		CertRFC9440:   ":" + b64 + ":",
		CertBase64DER: b64,
	}
	got := FieldsOf(leaf)
	checkURLPEM(t, got.CertURLPEM, leaf.Raw)
	got.CertURLPEM = ""
	if got.Extra == nil || got.Extra.SubjectCN != "alice" || got.Extra.NotAfter != leaf.NotAfter {
		t.Fatalf("FieldsOf's opt-in fields: %+v", got.Extra)
	}
	got.Extra = nil // TestExtraFields
	if *got != want {
		t.Fatalf("FieldsOf =\n%+v\nwant\n%+v", *got, want)
	}
}

// checkURLPEM checks that v is the PEM of der, percent-encoded with only
// unreserved characters left, decodable by both URL decoders.
func checkURLPEM(t *testing.T, v string, der []byte) {
	t.Helper()
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%") != "" {
		t.Fatalf("url-pem has reserved characters: %q", v)
	}
	q, err1 := url.QueryUnescape(v)
	u, err2 := url.PathUnescape(v)
	if err1 != nil || err2 != nil || q != p || u != p {
		t.Fatalf("url-pem does not decode to the PEM: %v %v", err1, err2)
	}
	if !strings.HasPrefix(v, "-----BEGIN%20CERTIFICATE-----%0A") || !strings.HasSuffix(v, "-----END%20CERTIFICATE-----%0A") {
		t.Fatalf("url-pem framing: %q...", v[:40])
	}
}

func TestFieldsOfEdgeCases(t *testing.T) {
	if FieldsOf(nil) != nil {
		t.Fatal("FieldsOf(nil) != nil")
	}
	for _, tc := range []struct {
		name string
		in   *x509.Certificate
		want Fields
	}{
		{"empty", &x509.Certificate{}, Fields{}},
		{"zero serial", &x509.Certificate{SerialNumber: big.NewInt(0)}, Fields{Serial: "0"}},
		{"negative serial", &x509.Certificate{SerialNumber: big.NewInt(-0xab)}, Fields{Serial: "-AB"}},
		{"leading zero byte", &x509.Certificate{SerialNumber: big.NewInt(0x0f)}, Fields{Serial: "F"}},
		{"nil URI", &x509.Certificate{URIs: []*url.URL{nil, {Scheme: "urn", Opaque: "a,b"}}}, Fields{SANURI: "urn:a%2Cb"}},
		{"odd SANs", &x509.Certificate{
			DNSNames:       []string{"a,b", "c d", "e%f", "g\r\nX-Injected: 1", "\x7f\xff"},
			EmailAddresses: []string{`"a,b"@x`, "c@d"},
		}, Fields{
			SANDNS:   "a%2Cb,c%20d,e%25f,g%0D%0AX-Injected:%201,%7F%FF",
			SANEmail: `"a%2Cb"@x,c@d`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FieldsOf(tc.in)
			got.Extra = nil // TestExtraFields
			if *got != tc.want {
				t.Fatalf("FieldsOf =\n%+v\nwant\n%+v", *got, tc.want)
			}
		})
	}
}

// TestInjection: a subject CN with CRLF must not become a header line.
func TestInjection(t *testing.T) {
	const evil = "evil\r\nX-Injected: 1"
	root := testpki.NewRoot(t, "Root\r\nX-Injected: 2", testpki.Options{})
	leaf := root.Leaf(t, evil, testpki.Options{DNS: []string{"a.example\r\nX-Injected: 3"}}).Cert
	if leaf.Subject.CommonName != evil {
		t.Fatalf("certificate CN %q, want %q", leaf.Subject.CommonName, evil)
	}
	f := FieldsOf(leaf)
	if want := `CN=evil\0D\0AX-Injected: 1,O=mtlsgate test`; f.Subject != want {
		t.Fatalf("Subject = %q, want %q", f.Subject, want)
	}
	n, _ := NewNames(nil, encRFC9440, false)
	set, _ := n.Build(nil, nil, "SUCCESS", f, "", testNow)
	req := "GET / HTTP/1.1\r\nHost: origin\r\n"
	for _, h := range set {
		if !isValidFieldValue(h.Value) {
			t.Errorf("%s: invalid value %q", h.Name, h.Value)
		}
		req += h.Name + ": " + h.Value + "\r\n"
	}
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(req + "\r\n")))
	if err != nil {
		t.Fatalf("origin cannot parse the request: %v", err)
	}
	if v := r.Header.Values("X-Injected"); v != nil {
		t.Fatalf("injected header reached the origin: %q", v)
	}
	if got := r.Header.Get("X-Client-Cert-Subject"); got != f.Subject {
		t.Fatalf("origin reads subject %q, want %q", got, f.Subject)
	}
}

func TestDNString(t *testing.T) {
	for _, tc := range []struct{ cn, want string }{
		{"plain", "CN=plain"},
		{"tab\there", `CN=tab\09here`},
		{"nul\x00", `CN=nul\00`},
		{"del\x7f", `CN=del\7F`},
		{"trailing ", `CN=trailing\20`},
		{" leading", `CN=\ leading`},
		{`back\slash\0D`, `CN=back\\slash\\0D`},
		{"comma,plus+", `CN=comma\,plus\+`},
		{"ünïcødé", "CN=ünïcødé"},
		{"bad\xffutf8", "CN=bad\uFFFDutf8"},
	} {
		var n x509.Certificate
		n.Subject.CommonName = tc.cn
		if got := dnString(n.Subject); got != tc.want || !isValidFieldValue(got) {
			t.Errorf("dnString(CN=%q) = %q, want %q", tc.cn, got, tc.want)
		}
	}
}

func TestSafeValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"SUCCESS", "SUCCESS"},
		{"a b", "a b"},
		{" a ", `\20a\20`},
		{" ", `\20`},
		{"a\r\nb", `a\0D\0Ab`},
		{"a\tb\x00\x7f", `a\09b\00\7F`},
		{"\xff\xfe", `\FF\FE`},
		{"é\xc3", `é\C3`},
		{"\uFFFD", "\uFFFD"},
	} {
		got := safeValue(tc.in)
		if got != tc.want || tc.in != "" && !isValidFieldValue(got) {
			t.Errorf("safeValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// headerMap turns Build's set list into a map, checking the invariants.
func headerMap(t *testing.T, n *Names, set []Header, remove []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	var names []string
	for _, h := range set {
		if !isValidFieldValue(h.Value) {
			t.Fatalf("%s: invalid value %q", h.Name, h.Value)
		}
		if slices.Contains(remove, h.Name) {
			t.Fatalf("%s is both set and removed", h.Name)
		}
		m[h.Name] = h.Value
		names = append(names, h.Name)
	}
	if !slices.IsSorted(names) || !slices.IsSorted(remove) {
		t.Fatalf("not sorted: set %v, remove %v", names, remove)
	}
	if all := slices.Sorted(slices.Values(append(names, remove...))); !slices.Equal(all, n.All()) {
		t.Fatalf("set %v + remove %v != All() %v", names, remove, n.All())
	}
	return m
}

func TestBuild(t *testing.T) {
	leaf := goldenLeaf(t)
	f := FieldsOf(leaf)
	full := map[string]string{
		"x-client-cert-verify":             "SUCCESS",
		"x-client-cert-fingerprint-sha256": f.Fingerprint,
		"x-client-cert-subject":            "CN=alice,O=mtlsgate test",
		"x-client-cert-issuer":             "CN=Golden Root,O=mtlsgate test",
		"x-client-cert-serial":             "C0FFEE01",
		"x-client-cert-not-before":         "2025-01-02T02:04:05Z",
		"x-client-cert-not-after":          "2027-12-31T23:59:59Z",
		"x-client-cert-san-dns":            "alice.example.com,a.example.org",
		"x-client-cert-san-uri":            "spiffe://example.org/ns/a/sa/alice,https://x.example/p%2Cq",
		"x-client-cert-san-email":          "alice@example.com",
		"x-client-cert-identity":           "alice-laptop",
		"client-cert":                      f.CertRFC9440,
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	onlyVerify := func(v string) map[string]string { return map[string]string{"x-client-cert-verify": v} }
	for _, tc := range []struct {
		name     string
		headers  map[string]string
		enc      mtlsgatev1.CertEncoding
		verify   string
		f        *Fields
		identity string
		want     map[string]string
	}{
		{"full rfc9440", nil, encRFC9440, "SUCCESS", f, "alice-laptop", full},
		{"default encoding", nil, 0, "SUCCESS", f, "alice-laptop", full},
		{"base64", nil, encBase64, "SUCCESS", f, "alice-laptop", with("client-cert", f.CertBase64DER)},
		{"url-pem", nil, encURLPEM, "SUCCESS", f, "alice-laptop", with("client-cert", f.CertURLPEM)},
		{"encoding none", nil, encNone, "SUCCESS", f, "alice-laptop", with("client-cert", "")},
		{"no identity", nil, encRFC9440, "SUCCESS", f, "", with("x-client-cert-identity", "")},
		{"failed", nil, encRFC9440, "FAILED:expired", f, "", with("x-client-cert-verify", "FAILED:expired", "x-client-cert-identity", "")},
		{"no certificate", nil, encRFC9440, "NONE", nil, "", onlyVerify("NONE")},
		{"malformed certificate", nil, encRFC9440, "FAILED:malformed", nil, "alice-laptop", onlyVerify("FAILED:malformed")},
		{"empty verify", nil, encRFC9440, "", nil, "", map[string]string{}},
		{"renamed and disabled", map[string]string{"subject": "x-dn", "issuer": "", "cert": "", "verify": "ssl-client-verify"},
			encRFC9440, "SUCCESS", f, "alice-laptop",
			with("x-client-cert-subject", "", "x-dn", full["x-client-cert-subject"], "x-client-cert-issuer", "",
				"client-cert", "", "x-client-cert-verify", "", "ssl-client-verify", "SUCCESS")},
		{"verify disabled, no cert", map[string]string{"verify": ""}, encRFC9440, "NONE", nil, "", map[string]string{}},
		{"fields without SANs", nil, encNone, "SUCCESS", &Fields{Subject: "CN=x"}, "",
			map[string]string{"x-client-cert-verify": "SUCCESS", "x-client-cert-subject": "CN=x"}},
		{"bad verify and identity escaped", nil, encNone, "NONE\r\nX: 1", &Fields{}, " id\x00",
			map[string]string{"x-client-cert-verify": `NONE\0D\0AX: 1`, "x-client-cert-identity": `\20id\00`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNames(tc.headers, tc.enc, false)
			if err != nil {
				t.Fatal(err)
			}
			set, remove := n.Build(nil, nil, tc.verify, tc.f, tc.identity, testNow)
			got := headerMap(t, n, set, remove)
			if len(got) != len(tc.want) {
				t.Errorf("set %d headers, want %d", len(got), len(tc.want))
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// TestFinding5_RenamedAndDisabledDefaultsOwned: a site that renames or
// turns off a header still owns its default name. Build removes it on
// every answer and never sets it, so a client's copy never reaches an
// origin that reads the defaults.
func TestFinding5_RenamedAndDisabledDefaultsOwned(t *testing.T) {
	n, err := NewNames(map[string]string{"verify": "x-tls-verify", "subject": "", "issuer": "", "cert": ""}, encRFC9440, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x-client-cert-verify", "x-client-cert-subject", "x-client-cert-issuer", "client-cert", "x-tls-verify"} {
		if !slices.Contains(n.All(), name) {
			t.Errorf("%s is not in All() %v", name, n.All())
		}
	}
	if len(n.All()) != len(fieldKeys)+2 { // + x-tls-verify and XFCC
		t.Errorf("All() has %d names, want %d", len(n.All()), len(fieldKeys)+2)
	}
	f := FieldsOf(goldenLeaf(t))
	for _, verify := range []string{"SUCCESS", "NONE", ""} {
		set, remove := n.Build(nil, nil, verify, f, "ops", testNow)
		for _, name := range []string{"x-client-cert-verify", "x-client-cert-subject", "x-client-cert-issuer", "client-cert"} {
			if !slices.Contains(remove, name) || slices.ContainsFunc(set, func(h Header) bool { return h.Name == name }) {
				t.Errorf("verify %q: %s not removed, or set (set %v, remove %v)", verify, name, set, remove)
			}
		}
		if verify != "" && !slices.ContainsFunc(set, func(h Header) bool { return h.Name == "x-tls-verify" && h.Value == verify }) {
			t.Errorf("verify %q: x-tls-verify not set: %v", verify, set)
		}
	}
}

func TestBuildAppends(t *testing.T) {
	n, _ := NewNames(nil, encRFC9440, false)
	set := []Header{{"keep", "1"}}
	remove := []string{"keep-too"}
	set, remove = n.Build(set, remove, "NONE", nil, "", testNow)
	if set[0].Name != "keep" || remove[0] != "keep-too" || len(set) != 2 || len(remove) != len(fieldKeys)+1 { // + XFCC
		t.Fatalf("Build did not append: %v %v", set, remove)
	}
}

func TestBuildAllocs(t *testing.T) {
	n, _ := NewNames(nil, encRFC9440, false)
	f := FieldsOf(goldenLeaf(t))
	set := make([]Header, 0, len(fieldKeys))
	remove := make([]string, 0, len(fieldKeys))
	allocs := testing.AllocsPerRun(100, func() {
		set, remove = n.Build(set[:0], remove[:0], "SUCCESS", f, "id", testNow)
		set, remove = n.Build(set[:0], remove[:0], "NONE", nil, "", testNow)
	})
	if allocs != 0 {
		t.Fatalf("Build allocates %v times with room in its slices", allocs)
	}
}

func BenchmarkFieldsOf(b *testing.B) {
	for _, kt := range []struct {
		name string
		key  testpki.KeyType
	}{{"ecdsa", testpki.ECDSA}, {"rsa", testpki.RSA}} {
		root := testpki.NewRoot(b, "Bench Root", testpki.Options{Key: kt.key})
		leaf := root.Leaf(b, "bench client", testpki.Options{Key: kt.key,
			DNS: []string{"a.example.com"}, URIs: []string{"spiffe://example.org/a"}, Email: []string{"a@example.com"}}).Cert
		b.Run(kt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = FieldsOf(leaf)
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	n, _ := NewNames(nil, encRFC9440, false)
	f := FieldsOf(goldenLeaf(b))
	set := make([]Header, 0, len(fieldKeys))
	remove := make([]string, 0, len(fieldKeys))
	b.Run("certificate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			set, remove = n.Build(set[:0], remove[:0], "SUCCESS", f, "alice-laptop", testNow)
		}
	})
	b.Run("none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			set, remove = n.Build(set[:0], remove[:0], "NONE", nil, "", testNow)
		}
	})
}

// TestNamesFieldsBuildLikeFieldsOf: a site's headers built from
// Names.Fields (the certificate encoded only as the site sends it) are
// exactly those built from FieldsOf (every encoding), and the encodings the
// site does not send are not computed.
func TestNamesFieldsBuildLikeFieldsOf(t *testing.T) {
	leaf := goldenLeaf(t)
	all := FieldsOf(leaf)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		enc     mtlsgatev1.CertEncoding
		want    func(f *Fields) string // the one encoding computed
	}{
		{"rfc9440", nil, encRFC9440, func(f *Fields) string { return f.CertRFC9440 }},
		{"base64", nil, encBase64, func(f *Fields) string { return f.CertBase64DER }},
		{"url-pem", nil, encURLPEM, func(f *Fields) string { return f.CertURLPEM }},
		{"no cert header", map[string]string{"cert": ""}, encURLPEM, func(*Fields) string { return "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNames(tc.headers, tc.enc, false)
			if err != nil {
				t.Fatal(err)
			}
			f := n.Fields(leaf)
			wantSet, wantRemove := n.Build(nil, nil, "SUCCESS", all, "id", testNow)
			gotSet, gotRemove := n.Build(nil, nil, "SUCCESS", f, "id", testNow)
			if !slices.Equal(gotSet, wantSet) || !slices.Equal(gotRemove, wantRemove) {
				t.Errorf("Build from Names.Fields = %v %v, from FieldsOf = %v %v", gotSet, gotRemove, wantSet, wantRemove)
			}
			computed := f.CertRFC9440 + f.CertBase64DER + f.CertURLPEM
			if want := tc.want(all); computed != want {
				t.Errorf("computed encodings %q, want only %q", computed, want)
			}
			if f.Subject != all.Subject || f.Fingerprint != all.Fingerprint || f.SANURI != all.SANURI {
				t.Errorf("base fields differ: %+v vs %+v", f, all)
			}
		})
	}
	if (&Names{}).Fields(nil) != nil {
		t.Error("Fields(nil) != nil")
	}
}
