package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestReviewFinding2_CRLsPerScopeAndPartition: an issuer may publish one
// CRL per scope (end-entity, CA, all) and per partition (distribution
// point), and an upload replaces only the CRL of its own scope and
// partition. Before, an issuer had one CRL: uploading its ARL (CA
// certificates only) replaced the CRL that revoked its end-entity
// certificates, and revoked users got in again.
func TestReviewFinding2_CRLsPerScopeAndPartition(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	f := newFixture(t, store.Limits{})
	key := pki.IssuerKeyOf(f.root.Cert)
	upload := func(scope testpki.CRLScope, n int64) (*pb.CRL, error) {
		return f.s.CreateCRL(ctx, admin, f.root.ScopedCRL(t, scope, n, t0, t0.Add(24*time.Hour)))
	}
	mustUpload := func(scope testpki.CRLScope, n int64) *pb.CRL {
		t.Helper()
		c, err := upload(scope, n)
		if err != nil {
			t.Fatalf("upload %+v number %d: %v", scope, n, err)
		}
		return c
	}
	inForce := func(want ...*pb.CRL) {
		t.Helper()
		var got, ids []string
		for _, c := range f.s.Current().CRLsOfIssuer(key) {
			got = append(got, c.GetId())
		}
		for _, c := range want {
			ids = append(ids, c.GetId())
		}
		slices.Sort(ids)
		if !slices.Equal(got, ids) {
			t.Fatalf("CRLs in force = %v, want %v", got, ids)
		}
	}

	users := mustUpload(testpki.CRLScope{UserCerts: true}, 1)
	arl := mustUpload(testpki.CRLScope{CACerts: true}, 1)
	inForce(users, arl)
	if users.GetScope() != pb.CRLScope_CRL_SCOPE_USER_CERTS || arl.GetScope() != pb.CRLScope_CRL_SCOPE_CA_CERTS {
		t.Fatalf("scopes = %v, %v", users.GetScope(), arl.GetScope())
	}

	partA := mustUpload(testpki.CRLScope{URIs: []string{"http://crl.example.com/a.crl"}}, 1)
	partB := mustUpload(testpki.CRLScope{URIs: []string{"http://crl.example.com/b.crl", "ldap://crl.example.com/b"}}, 1)
	whole := mustUpload(testpki.CRLScope{}, 1)
	inForce(users, arl, partA, partB, whole)
	if got := partB.GetDistributionPoints(); !slices.Equal(got, []string{"http://crl.example.com/b.crl", "ldap://crl.example.com/b"}) {
		t.Fatalf("distribution points = %v", got)
	}
	if whole.GetScope() != pb.CRLScope_CRL_SCOPE_ALL || whole.GetDistributionPoints() != nil {
		t.Fatalf("whole CRL recorded as %v %v", whole.GetScope(), whole.GetDistributionPoints())
	}

	// CRL numbers are compared within a slot only: partition A at number
	// 1 again is refused, naming the CRL it would replace; at 2 it
	// replaces A and leaves every other CRL in force.
	before := f.s.Current()
	_, err := upload(testpki.CRLScope{URIs: []string{"http://crl.example.com/a.crl"}}, 1)
	if !errors.Is(err, store.ErrFailedPrecondition) || !strings.Contains(err.Error(), partA.GetId()+" held for issuer CN=Client Root,O=mtlsgate test (distribution point http://crl.example.com/a.crl)") {
		t.Fatalf("partition A at number 1 again: %v, want a refusal naming %s and its partition", err, partA.GetId())
	}
	_, err = upload(testpki.CRLScope{UserCerts: true}, 1)
	if !strings.Contains(err.Error(), "(end-entity certificates)") {
		t.Fatalf("end-entity CRL at number 1 again: %v, want a refusal naming its scope", err)
	}
	unchanged(t, f.s, before)
	partA2 := mustUpload(testpki.CRLScope{URIs: []string{"http://crl.example.com/a.crl"}}, 2)
	arl2 := mustUpload(testpki.CRLScope{CACerts: true}, 2)
	inForce(users, arl2, partA2, partB, whole)
	if n := len(f.s.Current().CRLs()); n != 5 {
		t.Fatalf("%d CRLs stored, want the 5 in force", n)
	}

	// Deleting one CRL leaves the other slots as they are.
	if err := f.s.DeleteCRL(ctx, admin, arl2.GetId()); err != nil {
		t.Fatal(err)
	}
	inForce(users, partA2, partB, whole)
}

// TestReviewFinding2_LegacyCRLScopeReadFromDER: a CRL record stored before
// scopes were recorded gets its scope and partition from its DER on load,
// so that an ARL stored then does not take the slot of the end-entity CRL.
func TestReviewFinding2_LegacyCRLScopeReadFromDER(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	root := testpki.NewRoot(t, "Legacy Root", testpki.Options{})
	b := openBackend(t, t.TempDir())
	legacy := func(id string, scope testpki.CRLScope) store.Op {
		der := root.ScopedCRL(t, scope, 1, now, now.Add(time.Hour))
		v, err := proto.Marshal(&pb.CRL{Id: id, Der: der, Issuer: root.Cert.Subject.String(), CaId: "ca-1",
			IssuerNameDer: root.Cert.RawSubject, IssuerSpkiSha256: pki.IssuerKeyOf(root.Cert).SPKI,
			Sha256Fingerprint: pki.Fingerprint(der)})
		if err != nil {
			t.Fatal(err)
		}
		return store.Op{Key: "config/crl/" + id, Value: v}
	}
	ca, err := proto.Marshal(&pb.ClientCA{Id: "ca-1", Name: "one", BundlePem: string(root.PEM())})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Txn(ctx, nil, []store.Op{
		{Key: "config/ca/ca-1", Value: ca},
		legacy("crl-users", testpki.CRLScope{UserCerts: true}),
		legacy("crl-arl", testpki.CRLScope{CACerts: true, URIs: []string{"http://crl.example.com/arl"}}),
	}); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, b, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Current()
	if n := len(st.CRLsOfIssuer(pki.IssuerKeyOf(root.Cert))); n != 2 {
		t.Fatalf("%d CRLs in force, want both", n)
	}
	if c := st.CRL("crl-users"); c.GetScope() != pb.CRLScope_CRL_SCOPE_USER_CERTS || c.GetDistributionPoints() != nil {
		t.Fatalf("crl-users: %v %v", c.GetScope(), c.GetDistributionPoints())
	}
	if c := st.CRL("crl-arl"); c.GetScope() != pb.CRLScope_CRL_SCOPE_CA_CERTS || !slices.Equal(c.GetDistributionPoints(), []string{"http://crl.example.com/arl"}) {
		t.Fatalf("crl-arl: %v %v", c.GetScope(), c.GetDistributionPoints())
	}
}
