package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestLearnCRLSource: a distribution point is recorded once, with its
// issuer and certificate; a known one writes nothing; an
// unfetchable URL and one past the limit are refused and change nothing.
func TestLearnCRLSource(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{MaxCRLSources: 2})
	issuer := pki.IssuerKey{Name: "issuer-der", SPKI: "ab"}
	learned, err := f.s.LearnCRLSource(ctx, admin, "http://pki.example/issuing.crl", issuer, "fp1")
	if err != nil || !learned {
		t.Fatalf("first: %v %t", err, learned)
	}
	srcs := f.s.Current().CRLSources()
	if len(srcs) != 1 || srcs[0].GetUrl() != "http://pki.example/issuing.crl" || srcs[0].GetLearnedFrom() != "fp1" ||
		string(srcs[0].GetIssuerNameDer()) != "issuer-der" || srcs[0].GetId() != store.CRLSourceID(srcs[0].GetUrl()) {
		t.Fatalf("recorded: %+v", srcs)
	}
	before := f.s.Current()
	if learned, err := f.s.LearnCRLSource(ctx, admin, "http://pki.example/issuing.crl", issuer, "fp2"); err != nil || learned {
		t.Fatalf("again: %v %t", err, learned)
	}
	unchanged(t, f.s, before)
	if _, err := f.s.LearnCRLSource(ctx, admin, "ldap://dir.example/cn=ca", issuer, "fp"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("ldap: %v", err)
	}
	if _, err := f.s.LearnCRLSource(ctx, admin, "http://pki.example/2.crl", issuer, "fp"); err != nil {
		t.Fatal(err)
	}
	before = f.s.Current()
	for i := range 2 {
		if _, err := f.s.LearnCRLSource(ctx, admin, fmt.Sprintf("http://pki.example/over-%d.crl", i), issuer, "fp"); !errors.Is(err, store.ErrLimit) {
			t.Fatalf("past the limit: %v", err)
		}
	}
	unchanged(t, f.s, before)
}

// TestPruneCRLSources: learned distribution points go when their issuer
// is no longer uploaded, and only then.
func TestPruneCRLSources(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	other := testpki.NewRoot(t, "Gone Root", testpki.Options{})
	ca, err := f.s.CreateCA(ctx, admin, "gone", other.PEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for url, issuer := range map[string]*testpki.Cert{"http://kept.example/a.crl": f.root, "http://gone.example/b.crl": other} {
		if _, err := f.s.LearnCRLSource(ctx, admin, url, pki.IssuerKeyOf(issuer.Cert), "fp"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.s.PruneCRLSources(ctx); err != nil || n != 0 {
		t.Fatalf("prune with both issuers uploaded: %d %v", n, err)
	}
	if err := f.s.DeleteCA(ctx, admin, ca.GetId(), false); err != nil {
		t.Fatal(err)
	}
	if n, err := f.s.PruneCRLSources(ctx); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if srcs := f.s.Current().CRLSources(); len(srcs) != 1 || srcs[0].GetUrl() != "http://kept.example/a.crl" {
		t.Fatalf("left: %+v", srcs)
	}
}
