package extract

import (
	"bytes"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// leafPEM returns the PEM of a fresh client certificate whose base64 body
// contains '+' (and '/'), the characters a form decoder would corrupt.
func leafPEM(t testing.TB, key testpki.KeyType) []byte {
	t.Helper()
	root := testpki.NewRoot(t, "extract test root", testpki.Options{Key: key})
	for range 20 {
		p := root.Leaf(t, "client", testpki.Options{Key: key}).PEM()
		if bytes.ContainsRune(p, '+') && bytes.ContainsRune(p, '/') {
			return p
		}
	}
	t.Fatal("no certificate with '+' and '/' in its base64 after 20 tries")
	return nil
}

// encodeMinimal escapes only newline and space, leaving '+', '/' and '='
// literal: what a lax proxy might send. PathUnescape keeps '+'.
func encodeMinimal(p []byte) string {
	return strings.NewReplacer("\n", "%0A", " ", "%20").Replace(string(p))
}

// lowerEscapes rewrites every "%XX" of s with lowercase hex digits.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = bytes.ToLower(b[i+1 : i+2])[0], bytes.ToLower(b[i+2 : i+3])[0]
			i += 2
		}
	}
	return string(b)
}

func derOf(t testing.TB, p []byte) []byte {
	t.Helper()
	b, rest := pem.Decode(p)
	if b == nil || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("test PEM does not decode")
	}
	return b.Bytes
}

func TestLeafDERValid(t *testing.T) {
	for _, kt := range []struct {
		name string
		key  testpki.KeyType
	}{{"ecdsa", testpki.ECDSA}, {"rsa", testpki.RSA}} {
		p := leafPEM(t, kt.key)
		want := derOf(t, p)
		crlf := bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))
		for _, tc := range []struct {
			name, in string
		}{
			{"old", EncodeOld(p)},
			{"new", EncodeNew(p)},
			{"minimal", encodeMinimal(p)},
			{"raw", string(p)},
			{"lowercase hex", lowerEscapes(EncodeNew(p))},
			{"no final newline", EncodeNew(bytes.TrimSuffix(p, []byte("\n")))},
			{"surrounding whitespace", EncodeNew(append(append([]byte("\n \t\r\n"), p...), " \n\n"...))},
			{"crlf", EncodeNew(crlf)},
		} {
			t.Run(kt.name+"/"+tc.name, func(t *testing.T) {
				got, err := LeafDER(tc.in)
				if err != nil {
					t.Fatalf("LeafDER: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("DER differs from the certificate's")
				}
			})
		}
	}
}

// TestLeafDERPlus shows why the decoding must be PathUnescape's: with '+'
// left literal, a form decoder (QueryUnescape) turns it into a space and
// corrupts the certificate, while LeafDER keeps it.
func TestLeafDERPlus(t *testing.T) {
	p := leafPEM(t, testpki.ECDSA)
	in := encodeMinimal(p)
	if !strings.Contains(in, "+") {
		t.Fatal("test input has no literal '+'")
	}
	q, err := url.QueryUnescape(in)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode([]byte(q)); b != nil && bytes.Equal(b.Bytes, derOf(t, p)) {
		t.Fatal("QueryUnescape kept the certificate intact; the test proves nothing")
	}
	got, err := LeafDER(in)
	if err != nil || !bytes.Equal(got, derOf(t, p)) {
		t.Fatalf("LeafDER with literal '+': err %v, DER equal %v", err, bytes.Equal(got, derOf(t, p)))
	}
}

func TestLeafDERErrors(t *testing.T) {
	p := leafPEM(t, testpki.ECDSA)
	key := testpki.NewRoot(t, "k", testpki.Options{}).KeyPEM()
	body := string(p[len("-----BEGIN CERTIFICATE-----\n") : len(p)-len("-----END CERTIFICATE-----\n")])
	cert := func(b string) []byte {
		return []byte("-----BEGIN CERTIFICATE-----\n" + b + "-----END CERTIFICATE-----\n")
	}
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrNoCertificate},
		{"oversize", strings.Repeat("A", MaxEncodedLen+1), errTooLong},
		{"oversize valid prefix", EncodeNew(p) + strings.Repeat("%20", MaxEncodedLen), errTooLong},
		{"lone percent", EncodeNew(p) + "%", errEscape},
		{"percent one digit", EncodeNew(p) + "%2", errEscape},
		{"percent non-hex", "%G0" + EncodeNew(p), errEscape},
		{"percent in body", strings.Replace(EncodeNew(p), "%0A", "%0Z", 1), errEscape},
		{"whitespace only", "%20%0A%09%0D", errBlank},
		{"not PEM", "hello", errNotPEM},
		{"DER not PEM", EncodeNew(derOf(t, p)), errNotPEM},
		{"garbage before", EncodeNew(append([]byte("x\n"), p...)), errBefore},
		{"NUL before", EncodeNew(append([]byte{0}, p...)), errBefore},
		{"garbage after", EncodeNew(append(bytes.Clone(p), "x"...)), errAfter},
		{"NUL after", EncodeNew(append(bytes.Clone(p), 0)), errAfter},
		{"key block", EncodeNew(key), errNotCert},
		{"key then cert", EncodeNew(append(bytes.Clone(key), p...)), errNotCert},
		{"other type", EncodeNew(bytes.Replace(p, []byte("CERTIFICATE"), []byte("X509 CRL"), 2)), errNotCert},
		{"lowercase type", EncodeNew(bytes.ToLower(p[:28])), errNotPEM},
		{"two certificates", EncodeNew(append(bytes.Clone(p), p...)), errTwoBlocks},
		{"cert then key", EncodeNew(append(bytes.Clone(p), key...)), errAfter},
		{"headers", EncodeNew(cert("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n" + body)), errHeaders},
		{"truncated", EncodeNew(p[:len(p)/2]), errTruncated},
		{"truncated END line", EncodeNew(p[:len(p)-3]), errAfter},
		{"BEGIN line junk", EncodeNew(bytes.Replace(p, []byte("-----\n"), []byte("----- x\n"), 1)), errBeginLine},
		{"BEGIN line only", EncodeNew([]byte("-----BEGIN CERTIFICATE-----")), errBeginLine},
		{"empty body", EncodeNew(cert("")), errEmptyBody},
		{"padding only body", EncodeNew(cert("====\n")), errBadBase64},
		{"END not on its own line", EncodeNew(cert(strings.TrimSuffix(body, "\n"))), errEndLine},
		{"bad base64 char", EncodeNew(cert("!" + body[1:])), errBadBase64},
		{"space in body", EncodeNew(cert(body[:10] + " " + body[10:])), errBadBase64},
		{"base64 missing a char", EncodeNew(cert(body[1:])), errBadBase64},
		{"base64 non-canonical padding bits", EncodeNew(cert("AB==\n")), errBadBase64},
		{"plus as space", strings.ReplaceAll(encodeMinimal(p), "+", " "), errBadBase64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der, err := LeafDER(tc.in)
			if err != tc.want { // the exact error, not just its sentinel
				t.Fatalf("LeafDER = %v, want %v", err, tc.want)
			}
			if der != nil {
				t.Fatal("DER returned with an error")
			}
			if tc.want != ErrNoCertificate && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v does not wrap ErrMalformed", err)
			}
			if len(err.Error()) > 100 {
				t.Fatalf("error message too long: %q", err)
			}
		})
	}
}

// TestPathUnescape checks the decoder against url.PathUnescape.
func TestPathUnescape(t *testing.T) {
	for _, s := range []string{"", "a+b", "%2B%2b", "%", "%2", "%zz", "a%20b%0A", "%%41", "100%", "é%C3%A9"} {
		checkPathUnescape(t, s)
	}
}

func checkPathUnescape(t *testing.T, s string) {
	t.Helper()
	want, werr := url.PathUnescape(s)
	got, ok := pathUnescape(nil, s)
	if ok != (werr == nil) || ok && string(got) != want {
		t.Fatalf("pathUnescape(%q) = %q, %v; url.PathUnescape = %q, %v", s, got, ok, want, werr)
	}
}

func TestEncode(t *testing.T) {
	in := []byte("-----BEGIN X-----\nab+/=*-._~%:\n")
	if got, want := EncodeOld(in), "-----BEGIN%20X-----%0Aab%2B%2F%3D*-._~%:%0A"; got != want {
		t.Errorf("EncodeOld = %q, want %q", got, want)
	}
	if got, want := EncodeNew(in), "-----BEGIN%20X-----%0Aab%2B%2F%3D*-._%7E%25%3A%0A"; got != want {
		t.Errorf("EncodeNew = %q, want %q", got, want)
	}
}

func BenchmarkLeafDER(b *testing.B) {
	for _, kt := range []struct {
		name string
		key  testpki.KeyType
	}{{"ecdsa", testpki.ECDSA}, {"rsa", testpki.RSA}} {
		p := leafPEM(b, kt.key)
		for _, enc := range []struct {
			name string
			in   string
		}{{"old", EncodeOld(p)}, {"new", EncodeNew(p)}} {
			b.Run(kt.name+"/"+enc.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(enc.in)))
				for b.Loop() {
					if _, err := LeafDER(enc.in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	b.Run("malformed", func(b *testing.B) {
		in := EncodeNew([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := LeafDER(in); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}
