package extract

import (
	"bytes"
	"encoding/pem"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func FuzzLeafDER(f *testing.F) {
	p := leafPEM(f, testpki.ECDSA)
	for _, s := range []string{
		EncodeOld(p), EncodeNew(p), encodeMinimal(p), string(p), "",
		EncodeNew(append(bytes.Clone(p), p...)),
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----\nA:B\n\nAAAA\n-----END CERTIFICATE-----\n",
		"%2", "%zz", "+",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		der, err := LeafDER(s)
		if len(s) <= MaxEncodedLen {
			checkPathUnescape(t, s)
		}
		if err != nil {
			checkLeafDERError(t, s, der, err)
			return
		}
		checkLeafDERAgainstStdlib(t, s, der)
		again, err := LeafDER(EncodeNew(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
		if err != nil || !bytes.Equal(again, der) {
			t.Fatalf("re-encoded DER does not round-trip: %v", err)
		}
	})
}

func checkLeafDERError(t *testing.T, s string, der []byte, err error) {
	t.Helper()
	if der != nil {
		t.Fatal("DER returned with an error")
	}
	if errors.Is(err, ErrNoCertificate) != (s == "") {
		t.Fatalf("ErrNoCertificate for non-empty input, or not for empty: %v", err)
	}
	if s != "" && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v wraps neither sentinel", err)
	}
}

// checkLeafDERAgainstStdlib: whatever LeafDER accepts, url.PathUnescape and
// encoding/pem (which are more lenient) accept too, with the same bytes.
func checkLeafDERAgainstStdlib(t *testing.T, s string, der []byte) {
	t.Helper()
	if len(der) == 0 {
		t.Fatal("empty DER accepted")
	}
	text, err := url.PathUnescape(s)
	if err != nil {
		t.Fatalf("accepted input that url.PathUnescape refuses: %v", err)
	}
	b, rest := pem.Decode([]byte(text))
	if b == nil || b.Type != "CERTIFICATE" || len(b.Headers) != 0 || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatal("accepted input that encoding/pem does not read as one CERTIFICATE")
	}
	if !bytes.Equal(b.Bytes, der) {
		t.Fatal("DER differs from encoding/pem's")
	}
}

var hostRE = regexp.MustCompile(`^(\*\.)?[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*$`)

func FuzzHost(f *testing.F) {
	for _, s := range []string{
		"example.com", "WWW.Example.COM.:443", "[::1]:443", "*.x.com", "a..b", "a.b:99999",
		"a.b.", "*.", ":", "ä.com", strings.Repeat("a.", 130),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := Host(s)
		if h == "" {
			return
		}
		if len(h) > 253 || !hostRE.MatchString(h) {
			t.Fatalf("Host(%q) = %q, not a valid lowercase name", s, h)
		}
		if again := Host(h); again != h {
			t.Fatalf("Host(Host(%q)) = %q, want %q", s, again, h)
		}
		if up := Host(strings.ToUpper(s)); up != h {
			t.Fatalf("Host(upper %q) = %q, want %q", s, up, h)
		}
		if !strings.Contains(s, ":") {
			if withPort := Host(s + ":443"); withPort != h {
				t.Fatalf("Host(%q + port) = %q, want %q", s, withPort, h)
			}
		}
		checkWildcard(t, h)
	})
}

// checkWildcard: the wildcard key of a valid host is "" or a valid host
// that Wildcard leaves alone and that matches h's parent.
func checkWildcard(t *testing.T, h string) {
	t.Helper()
	w := Wildcard(h)
	if w == "" {
		return
	}
	_, parent, _ := strings.Cut(h, ".")
	if Host(w) != w || Wildcard(w) != "" || w != "*."+parent || !strings.Contains(parent, ".") {
		t.Fatalf("Wildcard(%q) = %q", h, w)
	}
}
