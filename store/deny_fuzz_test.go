package store

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// FuzzDenyEntryInput: whatever a caller sends as a deny entry's
// fingerprint, issuer text, issuer DER and serial, validation neither
// panics nor accepts an entry that breaks its rules: one identification,
// a 64-hex fingerprint, or a positive bounded serial with a non-empty
// issuer name that parses again to the same text.
func FuzzDenyEntryInput(f *testing.F) {
	name, err := asn1.Marshal(pkix.Name{CommonName: "Fuzz Root", Organization: []string{"mtlsgate"}}.ToRDNSequence())
	if err != nil {
		f.Fatal(err)
	}
	f.Add("", "", name, "0A:1B")
	f.Add(strings.Repeat("AB:", 31)+"AB", "", []byte(nil), "")
	f.Add("", "CN=Fuzz Root,O=mtlsgate", []byte(nil), "-1")
	f.Add("", "", []byte{0x30, 0x80, 0x00, 0x00}, "00")
	f.Add("", "", append(name, 0), strings.Repeat("f", 80))
	st := emptyState()
	s := &Store{now: time.Now, limits: DefaultLimits()}
	f.Fuzz(func(t *testing.T, fp, issuer string, der []byte, serial string) {
		e, err := s.checkDenyEntry(st, &pb.DenyEntry{Sha256Fingerprint: fp, Issuer: issuer, IssuerNameDer: der, Serial: serial})
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("refusal is not a ValidationError: %v", err)
			}
			return
		}
		if e.GetSha256Fingerprint() != "" {
			if _, ok := NormalizeFingerprint(e.GetSha256Fingerprint()); !ok || e.GetSerial() != "" || len(e.GetIssuerNameDer()) > 0 {
				t.Fatalf("accepted %v", e)
			}
			return
		}
		text, err := parseIssuerDER(e.GetIssuerNameDer())
		if err != nil || text != e.GetIssuer() || e.GetSerial() == "" || strings.TrimLeft(e.GetSerial(), "0") != e.GetSerial() ||
			strings.ToUpper(e.GetSerial()) != e.GetSerial() || len(e.GetSerial()) > 2*maxDenySerialOctets {
			t.Fatalf("accepted %v (%q, %v)", e, text, err)
		}
	})
}
