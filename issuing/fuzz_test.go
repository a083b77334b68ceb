package issuing_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/issuing"
)

// FuzzParseCSR: any input is either refused with ErrInvalid or yields a
// key of an accepted kind that the CA can issue to.
func FuzzParseCSR(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	f.Add(csrFor(f, ec))
	f.Add(csrFor(f, ed))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	ca, _, err := issuing.NewCA("", 0, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := issuing.ParseCSR(data, 0)
		if err != nil {
			if !errors.Is(err, issuing.ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		if _, err := ca.Issue(issuing.Request{Identity: "fuzz", PublicKey: pub, Now: time.Now()}); err != nil {
			t.Fatalf("an accepted CSR's key could not be issued to: %v", err)
		}
	})
}
