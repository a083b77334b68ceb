package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

func TestCRLs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	now := time.Now().Truncate(time.Second)
	stranger := testpki.NewRoot(t, "Stranger", testpki.Options{})
	// Same subject as the uploaded root, different key: signature must fail.
	impostor := testpki.NewRoot(t, "Client Root", testpki.Options{})

	bad := []struct {
		name  string
		crl   []byte
		class error
		cause error
		msg   string
	}{
		{"garbage", []byte("not a crl"), store.ErrInvalid, pki.ErrMalformed, "crl"},
		{"empty", nil, store.ErrInvalid, pki.ErrEmpty, "crl"},
		{"unknown issuer", stranger.CRL(t, 1, now, now.Add(time.Hour)), store.ErrInvalid, pki.ErrCRLIssuer, "not an uploaded CA"},
		{"bad signature", impostor.CRL(t, 1, now, now.Add(time.Hour)), store.ErrInvalid, pki.ErrCRLIssuer, "signature"},
		// crypto/x509 parses delta CRLs; the ext_authz server cannot use them.
		{"delta CRL", deltaCRL(t, f.root, now), store.ErrInvalid, crlset.ErrUnsupported, "DER input is a CRL mtlsgate cannot use"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			before := f.s.Current()
			_, err := f.s.CreateCRL(ctx, admin, tc.crl)
			if !errors.Is(err, tc.class) || !errors.Is(err, tc.cause) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v / %v mentioning %q", err, tc.class, tc.cause, tc.msg)
			}
			unchanged(t, f.s, before)
		})
	}

	first := f.root.CRL(t, 500, now.Add(-time.Hour), now.Add(time.Hour), big.NewInt(7), big.NewInt(8), big.NewInt(7))
	crl, err := f.s.CreateCRL(ctx, admin, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: first}))
	if err != nil {
		t.Fatalf("PEM CRL: %v", err)
	}
	sum := sha256.Sum256(first)
	if crl.GetCaId() != f.ca.GetId() || crl.GetIssuer() != f.root.Cert.Subject.String() ||
		crl.GetIssuerSha256Fingerprint() != pki.Fingerprint(f.root.Cert.Raw) ||
		crl.GetEntryCount() != 3 || // entries as listed, the duplicate too
		crl.GetNumber() != pki.SerialHex(big.NewInt(500)) || crl.GetNumber() != "1F4" ||
		!crl.GetThisUpdate().AsTime().Equal(now.Add(-time.Hour)) || !crl.GetNextUpdate().AsTime().Equal(now.Add(time.Hour)) ||
		crl.GetSha256Fingerprint() != hex.EncodeToString(sum[:]) || crl.GetSizeBytes() != int64(len(first)) ||
		!bytes.Equal(crl.GetDer(), first) || crl.GetUploadedBy() != admin.TokenID {
		t.Fatalf("CRL facts wrong: %v", crl)
	}
	if got := f.s.Current().CRL(crl.GetId()); !proto.Equal(got, crl) {
		t.Fatalf("stored CRL differs from the answer: %v", got)
	}
	if _, err := f.s.CreateCRL(ctx, admin, first); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("same CRL again: %v", err)
	}
	older := f.root.CRL(t, 4, now.Add(-2*time.Hour), now.Add(time.Hour))
	if _, err := f.s.CreateCRL(ctx, admin, older); !errors.Is(err, store.ErrFailedPrecondition) {
		t.Fatalf("rollback to an older CRL: %v", err)
	}
	newer, err := f.s.CreateCRL(ctx, admin, f.root.CRL(t, 501, now, now.Add(2*time.Hour), big.NewInt(9)))
	if err != nil {
		t.Fatal(err)
	}
	if crls := f.s.Current().CRLs(); len(crls) != 1 || crls[0].GetId() != newer.GetId() {
		t.Fatalf("newer CRL did not replace the old one: %d CRLs", len(crls))
	}
	if rl, err := x509.ParseRevocationList(f.s.Current().CRL(newer.GetId()).GetDer()); err != nil || len(rl.RevokedCertificateEntries) != 1 {
		t.Fatalf("stored DER: %v", err)
	}
	if err := f.s.DeleteCRL(ctx, admin, newer.GetId()); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteCRL(ctx, admin, newer.GetId()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// deltaCRL is a delta CRL (deltaCRLIndicator, RFC 5280 5.2.4) of ca.
func deltaCRL(t *testing.T, ca *testpki.Cert, now time.Time) []byte {
	t.Helper()
	base, err := asn1.Marshal(1)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(2), ThisUpdate: now, NextUpdate: now.Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: base}},
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCRLFromIntermediateInBundle: a CRL may come from any certificate of
// any uploaded bundle, not only the first.
func TestCRLFromIntermediateInBundle(t *testing.T) {
	f := newFixture(t, store.Limits{})
	inter := f.root.Intermediate(t, "Issuing", testpki.Options{})
	ca, err := f.s.CreateCA(context.Background(), admin, "chain", testpki.Bundle(inter, testpki.NewRoot(t, "R9", testpki.Options{})), nil)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := f.s.CreateCRL(context.Background(), admin, inter.CRL(t, 1, time.Now(), time.Now().Add(time.Hour)))
	if err != nil || crl.GetCaId() != ca.GetId() {
		t.Fatalf("CRL of an intermediate: %v, %v", crl, err)
	}
}

// TestPutFetchedCRL: a fetched CRL is validated and stored as an upload
// is, with its source; the same CRL fetched again writes nothing and
// returns the held one; an older one is refused as an upload would be.
func TestPutFetchedCRL(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	now := time.Now().Truncate(time.Second)
	const url = "http://pki.example/root.crl"
	der := f.root.CRL(t, 2, now, now.Add(time.Hour))
	crl, stored, err := f.s.PutFetchedCRL(ctx, admin, der, url)
	if err != nil || !stored || crl.GetFetchedFrom() != url || crl.GetNumber() != "2" {
		t.Fatalf("first fetch: %v %t %+v", err, stored, crl)
	}
	before := f.s.Current()
	again, stored, err := f.s.PutFetchedCRL(ctx, admin, der, url)
	if err != nil || stored || again.GetId() != crl.GetId() {
		t.Fatalf("same CRL again: %v %t %+v", err, stored, again)
	}
	unchanged(t, f.s, before)
	if _, _, err := f.s.PutFetchedCRL(ctx, admin, f.root.CRL(t, 1, now, now.Add(time.Hour)), url); !errors.Is(err, store.ErrFailedPrecondition) {
		t.Fatalf("older CRL: %v", err)
	}
	if _, _, err := f.s.PutFetchedCRL(ctx, admin, []byte("<html>"), url); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("not a CRL: %v", err)
	}
	unchanged(t, f.s, before)
	if up, err := f.s.CreateCRL(ctx, admin, f.root.CRL(t, 3, now, now.Add(time.Hour))); err != nil || up.GetFetchedFrom() != "" {
		t.Fatalf("an upload after a fetch: %v %+v", err, up)
	}
}

// TestCACRLURLs: CRL URLs set on upload and by UpdateCA are validated;
// a refused update changes nothing; the mask decides what changes.
func TestCACRLURLs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	ca, err := f.s.AddCA(ctx, admin, store.NewCA{Name: "issuing", Bundle: testpki.NewRoot(t, "Issuing", testpki.Options{}).PEM(),
		CRLURLs: []string{"http://pki.example/a.crl"}})
	if err != nil || len(ca.GetCrlUrls()) != 1 {
		t.Fatalf("upload with a URL: %v %+v", err, ca)
	}
	for _, bad := range [][]string{
		{"ldap://dir.example/cn=x"}, {"file:///etc/passwd"}, {"http://u:p@pki.example/"}, {"http:///x"},
		{"http://pki.example/a.crl#f"}, {"http://a.example/", "http://a.example/"}, {"http://pki.example/a b"},
		{"http://1/", "http://2/", "http://3/", "http://4/", "http://5/"}, {"http://x/" + strings.Repeat("a", 2100)},
	} {
		before := f.s.Current()
		if _, err := f.s.UpdateCA(ctx, admin, ca.GetId(), &pb.ClientCA{CrlUrls: bad}, []string{"crl_urls"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
		unchanged(t, f.s, before)
	}
	got, err := f.s.UpdateCA(ctx, admin, ca.GetId(), &pb.ClientCA{Name: "ignored", CrlUrls: []string{"https://pki.example/b.crl"}}, []string{"crl_urls"})
	if err != nil || got.GetName() != "issuing" || got.GetCrlUrls()[0] != "https://pki.example/b.crl" {
		t.Fatalf("update URLs: %v %+v", err, got)
	}
	if _, err := f.s.UpdateCA(ctx, admin, ca.GetId(), &pb.ClientCA{Name: "root"}, []string{"name"}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("rename onto another CA's name: %v", err)
	}
	if _, err := f.s.UpdateCA(ctx, admin, ca.GetId(), &pb.ClientCA{}, []string{"bundle_pem"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("update the bundle: %v", err)
	}
	if _, err := f.s.UpdateCA(ctx, admin, ca.GetId(), &pb.ClientCA{}, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("no mask: %v", err)
	}
	cleared, err := f.s.UpdateCA(ctx, admin, ca.GetId(), &pb.ClientCA{}, []string{"crl_urls"})
	if err != nil || len(cleared.GetCrlUrls()) != 0 {
		t.Fatalf("clear URLs: %v %+v", err, cleared)
	}
}

// TestCAOCSPSettings: a CA's OCSP responder follows the rules of a CRL
// URL, on upload and on update; a refused write changes nothing; the
// nonce setting changes only with its mask path.
func TestCAOCSPSettings(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	root := testpki.NewRoot(t, "OCSP Issuing", testpki.Options{})
	if _, err := f.s.AddCA(ctx, admin, store.NewCA{Name: "bad", Bundle: root.PEM(), OCSPURL: "ldap://dir.example/"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("upload with an ldap responder: %v", err)
	}
	ca, err := f.s.AddCA(ctx, admin, store.NewCA{Name: "issuing", Bundle: root.PEM(), OCSPURL: "http://ocsp.example", OCSPNonce: true})
	if err != nil || ca.GetOcspUrl() != "http://ocsp.example" || !ca.GetOcspNonce() {
		t.Fatalf("upload with a responder: %v %+v", err, ca)
	}
	for _, bad := range []string{"file:///etc/passwd", "http://u:p@ocsp.example/", "http:///x", "http://ocsp.example/ x"} {
		before := f.s.Current()
		if _, err := f.s.UpdateCA(ctx, admin, ca.GetId(), &pb.ClientCA{OcspUrl: bad}, []string{"ocsp_url"}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "ocsp_url") {
			t.Errorf("%q: %v, want ErrInvalid naming ocsp_url", bad, err)
		}
		unchanged(t, f.s, before)
	}
	got, err := f.s.UpdateCA(ctx, admin, ca.GetId(), &pb.ClientCA{OcspUrl: "https://ocsp2.example/x"}, []string{"ocsp_url"})
	if err != nil || got.GetOcspUrl() != "https://ocsp2.example/x" || !got.GetOcspNonce() {
		t.Fatalf("update the responder: %v %+v", err, got)
	}
	got, err = f.s.UpdateCA(ctx, admin, ca.GetId(), &pb.ClientCA{}, []string{"ocsp_url", "ocsp_nonce"})
	if err != nil || got.GetOcspUrl() != "" || got.GetOcspNonce() {
		t.Fatalf("clear: %v %+v", err, got)
	}
}
