package model_test

import (
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestRevocationAndSoleCRL: every CRL in force of an issuer is its
// revocation data, in id order; Envoy's one CRL exists only when a single
// CRL covers the whole issuer.
func TestRevocationAndSoleCRL(t *testing.T) {
	f := newFixture(t)
	key := pki.IssuerKeyOf(f.root.Cert)
	whole := crlOf(t, "crl-b", "ca-root", f.root, testpki.CRLScope{}, 1)
	arl := crlOf(t, "crl-a", "ca-root", f.root, testpki.CRLScope{CACerts: true}, 1)
	users := crlOf(t, "crl-u", "ca-root", f.root, testpki.CRLScope{UserCerts: true}, 1)
	part := crlOf(t, "crl-p", "ca-root", f.root, testpki.CRLScope{URIs: []string{"http://crl.example/p.crl"}}, 1)
	newer := crlOf(t, "crl-c", "ca-root", f.root, testpki.CRLScope{}, 2)
	cases := []struct {
		name  string
		crls  []*pb.CRL
		ids   []string // Revocation(key), in order
		sole  string   // SoleCRL(key)'s id, "" for none
		inErr []string
	}{
		{"one whole CRL", []*pb.CRL{whole}, []string{"crl-b"}, "crl-b", nil},
		{"an ARL beside it", []*pb.CRL{whole, arl}, []string{"crl-a", "crl-b"}, "", nil},
		{"users only", []*pb.CRL{users}, []string{"crl-u"}, "", nil},
		{"a partition", []*pb.CRL{part}, []string{"crl-p"}, "", nil},
		{"a newer CRL supersedes", []*pb.CRL{whole, newer}, []string{"crl-c"}, "crl-c", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := model.Compile(store.NewState(1, f.cas, nil, tc.crls), nil)
			var ids []string
			for _, c := range m.Revocation(key) {
				ids = append(ids, c.Msg.GetId())
			}
			if !equal(ids, tc.ids) {
				t.Errorf("revocation = %v, want %v", ids, tc.ids)
			}
			sole := ""
			if c := m.SoleCRL(key); c != nil {
				sole = c.Msg.GetId()
			}
			if sole != tc.sole {
				t.Errorf("sole CRL = %q, want %q", sole, tc.sole)
			}
			if len(m.Errors) != 0 {
				t.Errorf("errors: %v", m.Errors)
			}
			if len(m.CRLs) != len(tc.ids) {
				t.Errorf("%d CRLs in the model, want the %d in force", len(m.CRLs), len(tc.ids))
			}
		})
	}
}

// TestCRLErrors: a CRL that cannot be used is reported and never used.
func TestCRLErrors(t *testing.T) {
	f := newFixture(t)
	unknown := crlOf(t, "crl-x", "ca-root", f.root, testpki.CRLScope{}, 1)
	unknown.IssuerNameDer, unknown.IssuerSpkiSha256 = nil, ""
	// Signed by the other root, filed under the root's identity.
	forged := crlOf(t, "crl-f", "ca-root", f.other, testpki.CRLScope{}, 1)
	key := pki.IssuerKeyOf(f.root.Cert)
	forged.IssuerNameDer, forged.IssuerSpkiSha256 = []byte(key.Name), key.SPKI
	m := model.Compile(store.NewState(1, f.cas, nil, []*pb.CRL{unknown, forged}), nil)
	for _, id := range []string{"crl-x", "crl-f"} {
		if c := m.CRLs[id]; c == nil || c.Err == nil || c.Set != nil || m.Errors[store.CRLRef(id)] == nil {
			t.Errorf("%s: not reported as unusable", id)
		}
	}
	if len(m.Revocation(key)) != 0 || m.SoleCRL(key) != nil {
		t.Error("an unusable CRL is used")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCRLAddedBesideUnchangedCAs: a CRL uploaded while no CA changes is
// placed (the CAs are shared with the previous model, the CRLs are not).
func TestCRLAddedBesideUnchangedCAs(t *testing.T) {
	f := newFixture(t)
	first := model.Compile(store.NewState(1, f.cas, nil, nil), nil)
	crl := crlOf(t, "crl-1", "ca-other", f.other, testpki.CRLScope{}, 1)
	second := model.Compile(store.NewState(2, f.cas, nil, []*pb.CRL{crl}), first)
	key := pki.IssuerKeyOf(f.other.Cert)
	if l := second.Revocation(key); len(l) != 1 || l[0].Set == nil || second.SoleCRL(key) != l[0] {
		t.Fatalf("revocation of the issuer: %v, errors %v", l, second.Errors)
	}
	third := model.Compile(store.NewState(3, f.cas, nil, nil), second)
	if len(third.Revocation(key)) != 0 || len(third.CRLs) != 0 {
		t.Fatal("a deleted CRL is still in force")
	}
}
