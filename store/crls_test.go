package store_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
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

	first := f.root.CRL(t, 5, now.Add(-time.Hour), now.Add(time.Hour), big.NewInt(7), big.NewInt(8))
	crl, err := f.s.CreateCRL(ctx, admin, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: first}))
	if err != nil {
		t.Fatalf("PEM CRL: %v", err)
	}
	if crl.GetCaId() != f.ca.GetId() || crl.GetEntryCount() != 2 || crl.GetNumber() != "5" ||
		crl.GetIssuerSha256Fingerprint() != pki.Fingerprint(f.root.Cert.Raw) || !crl.GetNextUpdate().AsTime().Equal(now.Add(time.Hour)) {
		t.Fatalf("CRL facts wrong: %v", crl)
	}
	if _, err := f.s.CreateCRL(ctx, admin, first); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("same CRL again: %v", err)
	}
	older := f.root.CRL(t, 4, now.Add(-2*time.Hour), now.Add(time.Hour))
	if _, err := f.s.CreateCRL(ctx, admin, older); !errors.Is(err, store.ErrFailedPrecondition) {
		t.Fatalf("rollback to an older CRL: %v", err)
	}
	newer, err := f.s.CreateCRL(ctx, admin, f.root.CRL(t, 6, now, now.Add(2*time.Hour), big.NewInt(9)))
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
