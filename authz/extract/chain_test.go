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

// TestChainDER: a chain as Envoy writes an XFCC Chain (blocks back to
// back, in either encoding) reads as its certificates in order; anything
// LeafDER would refuse in a block, or text between blocks, is refused.
func TestChainDER(t *testing.T) {
	a, b := leafPEM(t, testpki.ECDSA), leafPEM(t, testpki.ECDSA)
	derOf := func(p []byte) []byte { blk, _ := pem.Decode(p); return blk.Bytes }
	chain := append(bytes.Clone(a), b...)
	for name, in := range map[string]string{
		"new encoding": EncodeNew(chain), "old encoding": EncodeOld(chain),
		"whitespace between": EncodeNew(append(append(bytes.Clone(a), " \r\n\t"...), b...)),
	} {
		ders, err := ChainDER(in)
		if err != nil || len(ders) != 2 || !bytes.Equal(ders[0], derOf(a)) || !bytes.Equal(ders[1], derOf(b)) {
			t.Errorf("%s: %d certificates, %v", name, len(ders), err)
		}
	}
	if ders, err := ChainDER(EncodeNew(a)); err != nil || len(ders) != 1 {
		t.Errorf("one certificate: %d, %v", len(ders), err)
	}
	for name, in := range map[string]string{
		"text between":    EncodeNew(append(append(bytes.Clone(a), "junk\n"...), b...)),
		"truncated last":  EncodeNew(append(bytes.Clone(a), b[:len(b)-20]...)),
		"a key":           EncodeNew(append(bytes.Clone(a), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"...)),
		"too many":        EncodeNew(bytes.Repeat(a, MaxChainLen+1)),
		"only whitespace": "%20%0A",
		"bad escape":      "%G0",
	} {
		if ders, err := ChainDER(in); !errors.Is(err, ErrMalformed) || ders != nil {
			t.Errorf("%s: %d certificates, %v; want ErrMalformed", name, len(ders), err)
		}
	}
	if _, err := ChainDER(""); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("empty: %v", err)
	}
}

func FuzzChainDER(f *testing.F) {
	p := leafPEM(f, testpki.ECDSA)
	for _, s := range []string{EncodeNew(p), EncodeNew(append(bytes.Clone(p), p...)), EncodeOld(p) + "%0A" + EncodeOld(p), "", "%0A", string(p) + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ders, err := ChainDER(s)
		if err != nil {
			if ders != nil || (s != "" && !errors.Is(err, ErrMalformed)) {
				t.Fatalf("error %v with %d certificates", err, len(ders))
			}
			return
		}
		// Whatever ChainDER accepts, encoding/pem reads as the same
		// CERTIFICATE blocks with nothing but whitespace around them.
		text, err := url.PathUnescape(s)
		if err != nil {
			t.Fatalf("accepted input url.PathUnescape refuses: %v", err)
		}
		rest := []byte(text)
		for i, der := range ders {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil || blk.Type != "CERTIFICATE" || len(blk.Headers) != 0 || !bytes.Equal(blk.Bytes, der) {
				t.Fatalf("certificate %d differs from encoding/pem's", i)
			}
		}
		if strings.TrimSpace(string(rest)) != "" || len(ders) > MaxChainLen {
			t.Fatalf("accepted %d certificates with %q left", len(ders), rest)
		}
	})
}
