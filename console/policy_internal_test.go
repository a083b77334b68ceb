package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestCertFingerprint: a PEM or DER certificate gives the SHA-256 of its
// DER; a bundle, a PEM without a certificate, junk and an oversized file
// are refused with the reason.
func TestCertFingerprint(t *testing.T) {
	leaf := testpki.NewRoot(t, "FP CA", testpki.Options{}).Leaf(t, "alice", testpki.Options{})
	sum := sha256.Sum256(leaf.Cert.Raw)
	want := hex.EncodeToString(sum[:])
	for name, in := range map[string][]byte{"PEM": leaf.PEM(), "DER": leaf.Cert.Raw} {
		if got, err := certFingerprint(bytes.NewReader(in)); err != nil || got != want {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	for name, c := range map[string]struct {
		in   []byte
		want string
	}{
		"bundle":  {append(leaf.PEM(), leaf.PEM()...), "holds 2 certificates"},
		"key":     {leaf.KeyPEM(), "no CERTIFICATE block"},
		"junk":    {[]byte("not a certificate"), "not a PEM or DER certificate"},
		"too big": {bytes.Repeat([]byte{'a'}, maxCertFile+1), "larger than 64 KiB"},
	} {
		if _, err := certFingerprint(bytes.NewReader(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestAPIPath(t *testing.T) {
	for msg, want := range map[string]string{
		`pins[2]: sha256_fingerprint must be 64 hex digits, got "abc"`:  "pins[2]",
		"settings.pins[1].identity: must be printable ASCII":            "pins[1].identity",
		`access_rules[0].path_prefix: "x" must start with '/'`:          "access_rules[0].path_prefix",
		`identity "alice" has 6 pinned certificates (limit 5)`:          "",
		"the configuration store did not confirm the change: it was...": "",
	} {
		if got := apiPath(msg); got != want {
			t.Errorf("apiPath(%q) = %q, want %q", msg, got, want)
		}
	}
}
