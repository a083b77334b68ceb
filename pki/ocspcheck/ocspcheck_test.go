package ocspcheck

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// respond is a response about serial, with issuer's CertID, signed by
// signer (embedded when it is not the issuer).
func respond(t *testing.T, issuer, signer *testpki.Cert, serial *big.Int, status int, this, next time.Time) []byte {
	t.Helper()
	tmpl := ocsp.Response{SerialNumber: serial, Status: status, ThisUpdate: this, NextUpdate: next}
	if status == ocsp.Revoked {
		tmpl.RevokedAt, tmpl.RevocationReason = this.Add(-time.Hour), ocsp.KeyCompromise
	}
	if signer != issuer {
		tmpl.Certificate = signer.Cert
	}
	der, err := ocsp.CreateResponse(issuer.Cert, signer.Cert, tmpl, signer.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestVerify: answers signed by the issuer or a delegated responder are
// read; a response signed by anyone else, by a responder certificate
// without id-kp-OCSPSigning, about another certificate (another serial,
// or the same serial of another issuer), outside its time window, an
// error status or garbage is refused with the error that says so.
func TestVerify(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	root := testpki.NewRoot(t, "OCSP Root", testpki.Options{})
	other := testpki.NewRoot(t, "Other Root", testpki.Options{})
	leaf := root.Leaf(t, "alice", testpki.Options{})
	delegate := root.Leaf(t, "OCSP responder", testpki.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})
	notDelegate := root.Leaf(t, "not a responder", testpki.Options{})
	strangerDelegate := other.Leaf(t, "stranger responder", testpki.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})
	expiredDelegate := root.Leaf(t, "old responder", testpki.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	this, next := now.Add(-time.Minute), now.Add(time.Hour)
	cases := []struct {
		name      string
		der       []byte
		want      Status
		delegated bool
		err       error
	}{
		{"good, by the issuer", respond(t, root, root, leaf.Cert.SerialNumber, ocsp.Good, this, next), Good, false, nil},
		{"revoked", respond(t, root, root, leaf.Cert.SerialNumber, ocsp.Revoked, this, next), Revoked, false, nil},
		{"unknown", respond(t, root, root, leaf.Cert.SerialNumber, ocsp.Unknown, this, next), Unknown, false, nil},
		{"good, by a delegated responder", respond(t, root, delegate, leaf.Cert.SerialNumber, ocsp.Good, this, next), Good, true, nil},
		{"no nextUpdate", respond(t, root, root, leaf.Cert.SerialNumber, ocsp.Good, this, time.Time{}), Good, false, nil},
		{"responder certificate without OCSPSigning", respond(t, root, notDelegate, leaf.Cert.SerialNumber, ocsp.Good, this, next), 0, false, ErrDelegate},
		{"expired responder certificate", respond(t, root, expiredDelegate, leaf.Cert.SerialNumber, ocsp.Good, this, next), 0, false, ErrDelegate},
		{"responder of another CA", respond(t, root, strangerDelegate, leaf.Cert.SerialNumber, ocsp.Good, this, next), 0, false, ErrSignature},
		{"signed by another CA", respond(t, root, other, leaf.Cert.SerialNumber, ocsp.Good, this, next), 0, false, ErrSignature},
		{"another serial", respond(t, root, root, big.NewInt(424242), ocsp.Good, this, next), 0, false, ErrWrongCertificate},
		{"the same serial of another issuer", respond(t, other, delegate, leaf.Cert.SerialNumber, ocsp.Good, this, next), 0, false, ErrWrongCertificate},
		{"past nextUpdate", respond(t, root, root, leaf.Cert.SerialNumber, ocsp.Good, now.Add(-2*time.Hour), now.Add(-time.Hour)), 0, false, ErrStale},
		{"thisUpdate in the future", respond(t, root, root, leaf.Cert.SerialNumber, ocsp.Good, now.Add(time.Hour), now.Add(2*time.Hour)), 0, false, ErrNotYetValid},
		{"tryLater", ocsp.TryLaterErrorResponse, 0, false, ErrResponder},
		{"garbage", []byte("<html>proxy error</html>"), 0, false, ErrMalformed},
	}
	t.Run("an intermediate issuer embedding its own certificate", func(t *testing.T) {
		inter := root.Intermediate(t, "OCSP Issuing", testpki.Options{})
		bob := inter.Leaf(t, "bob", testpki.Options{})
		for _, signer := range []*testpki.Cert{inter, root} {
			der, err := ocsp.CreateResponse(inter.Cert, signer.Cert, ocsp.Response{SerialNumber: bob.Cert.SerialNumber,
				Status: ocsp.Good, ThisUpdate: this, NextUpdate: next, Certificate: signer.Cert}, signer.Key)
			if err != nil {
				t.Fatal(err)
			}
			a, err := (&Query{Serial: bob.Cert.SerialNumber, Issuer: inter.Cert}).Verify(der, now, time.Minute)
			switch {
			case signer == inter && (err != nil || a.Status != Good || a.Delegated):
				t.Fatalf("signed by the issuer itself: %+v %v", a, err)
			case signer == root && !errors.Is(err, ErrSignature):
				t.Fatalf("signed by the issuer's issuer: %+v %v, want ErrSignature", a, err)
			}
		}
	})
	t.Run("an unhandled critical extension", func(t *testing.T) {
		der, err := ocsp.CreateResponse(root.Cert, root.Cert, ocsp.Response{SerialNumber: leaf.Cert.SerialNumber, Status: ocsp.Good,
			ThisUpdate: this, NextUpdate: next, ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Critical: true, Value: []byte{5, 0}}}}, root.Key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&Query{Serial: leaf.Cert.SerialNumber, Issuer: root.Cert}).Verify(der, now, time.Minute); !errors.Is(err, ErrMalformed) {
			t.Fatalf("err %v, want ErrMalformed", err)
		}
	})
	t.Run("a nonce asked for and not sent back", func(t *testing.T) {
		q := &Query{Serial: leaf.Cert.SerialNumber, Issuer: root.Cert, Nonce: []byte("0123456789abcdef")}
		if _, err := q.Verify(cases[0].der, now, time.Minute); !errors.Is(err, ErrNonce) {
			t.Fatalf("err %v, want ErrNonce", err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := &Query{Serial: leaf.Cert.SerialNumber, Issuer: root.Cert}
			a, err := q.Verify(tc.der, now, 5*time.Minute)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || a.Status != tc.want || a.Delegated != tc.delegated {
				t.Fatalf("%+v %v, want %s delegated %t", a, err, tc.want, tc.delegated)
			}
			if a.Status == Revoked && (a.Reason != ocsp.KeyCompromise || a.RevokedAt.IsZero()) {
				t.Fatalf("revocation details: %+v", a)
			}
		})
	}
}

// TestVerifyOpenSSLResponder: responses from an independent responder,
// `openssl ocsp` answering the requests Query.Request makes, verify, with
// and without a nonce; a nonce that comes back changed does not.
func TestVerifyOpenSSLResponder(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed (.ci/run installs it)")
	}
	dir := t.TempDir()
	// The issuer is an intermediate, signing its answers itself: OpenSSL
	// embeds the signer's certificate, here the issuer's own.
	root := testpki.NewRoot(t, "OpenSSL OCSP Root", testpki.Options{}).Intermediate(t, "OpenSSL OCSP Issuing", testpki.Options{})
	good, revoked := root.Leaf(t, "good", testpki.Options{}), root.Leaf(t, "revoked", testpki.Options{})
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exp := good.Cert.NotAfter.UTC().Format("060102150405Z")
	index := fmt.Sprintf("V\t%s\t\t%X\tunknown\t/CN=good\nR\t%s\t%s,keyCompromise\t%X\tunknown\t/CN=revoked\n",
		exp, good.Cert.SerialNumber, exp, time.Now().Add(-time.Hour).UTC().Format("060102150405Z"), revoked.Cert.SerialNumber)
	caFile, keyFile, indexFile := write("ca.pem", root.PEM()), write("ca.key", root.KeyPEM()), write("index.txt", []byte(index))
	nonce, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		leaf         *testpki.Cert
		nonce, check []byte
		status       Status
		err          error
	}{
		{good, nil, nil, Good, nil},
		{revoked, nil, nil, Revoked, nil},
		{good, nonce, nonce, Good, nil},
		{good, nonce, []byte("another nonce"), 0, ErrNonce},
	} {
		q := &Query{Serial: tc.leaf.Cert.SerialNumber, Issuer: root.Cert, Nonce: tc.nonce}
		req, err := q.Request()
		if err != nil {
			t.Fatal(err)
		}
		reqFile, respFile := write("req.der", req), filepath.Join(dir, "resp.der")
		out, err := exec.Command(openssl, "ocsp", "-index", indexFile, "-rsigner", caFile, "-rkey", keyFile, "-CA", caFile,
			"-reqin", reqFile, "-respout", respFile, "-ndays", "1").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		der, err := os.ReadFile(respFile)
		if err != nil {
			t.Fatal(err)
		}
		q.Nonce = tc.check
		a, err := q.Verify(der, time.Now(), time.Minute)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Fatalf("%s: err %v, want %v", tc.leaf.Cert.Subject.CommonName, err, tc.err)
			}
			continue
		}
		if err != nil || a.Status != tc.status {
			t.Fatalf("%s: %+v %v, want %s", tc.leaf.Cert.Subject.CommonName, a, err, tc.status)
		}
	}
}

// TestRequest: the requests Query.Request writes are what x/crypto/ocsp
// writes and reads (SHA-1 CertID of the serial and the issuer's name and
// key), with or without a nonce; a bad nonce or a missing part is refused.
func TestRequest(t *testing.T) {
	root := testpki.NewRoot(t, "Request Root", testpki.Options{})
	leaf := root.Leaf(t, "alice", testpki.Options{})
	theirs, err := ocsp.CreateRequest(leaf.Cert, root.Cert, &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		t.Fatal(err)
	}
	ours, err := (&Query{Serial: leaf.Cert.SerialNumber, Issuer: root.Cert}).Request()
	if err != nil || !bytes.Equal(ours, theirs) {
		t.Fatalf("request %x (%v), x/crypto/ocsp writes %x", ours, err, theirs)
	}
	withNonce, err := (&Query{Serial: leaf.Cert.SerialNumber, Issuer: root.Cert, Nonce: []byte("n0nce")}).Request()
	if err != nil {
		t.Fatal(err)
	}
	r, err := ocsp.ParseRequest(withNonce)
	if err != nil || r.SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 || !bytes.Contains(withNonce, []byte("n0nce")) {
		t.Fatalf("request with a nonce: %+v %v", r, err)
	}
	for name, q := range map[string]*Query{
		"empty nonce":   {Serial: leaf.Cert.SerialNumber, Issuer: root.Cert, Nonce: []byte{}},
		"33-byte nonce": {Serial: leaf.Cert.SerialNumber, Issuer: root.Cert, Nonce: make([]byte, 33)},
		"no issuer":     {Serial: leaf.Cert.SerialNumber},
		"no serial":     {Issuer: root.Cert},
	} {
		if _, err := q.Request(); err == nil {
			t.Errorf("%s: request written", name)
		}
	}
}
