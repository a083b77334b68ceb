package store_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// issuerCase is a CA whose issuer identity appears in two bundles: first
// holds cert, second holds other (another certificate of the same issuer,
// or the same certificate again) and extra.
type issuerCase struct {
	name        string
	cert, other *testpki.Cert
	extra       []*testpki.Cert
}

// issuerCases builds the three shapes of finding 3: a renewed root (same
// name and key, new serial and validity), a cross-signed certificate of the
// root (same name and key, issued by another root), and the root listed in
// two bundles.
func issuerCases(t *testing.T) (*testpki.Cert, []issuerCase) {
	root := testpki.NewRoot(t, "Shared Root", testpki.Options{})
	bridge := testpki.NewRoot(t, "Bridge Root", testpki.Options{})
	return root, []issuerCase{
		{name: "renewed root", cert: root, other: root.Reissue(t, nil, testpki.Options{})},
		{name: "cross-signed root", cert: root, other: root.Reissue(t, bridge, testpki.Options{}), extra: []*testpki.Cert{bridge}},
		{name: "listed twice", cert: root, other: root, extra: []*testpki.Cert{testpki.NewRoot(t, "Beside", testpki.Options{})}},
	}
}

// TestFinding3_CRLBelongsToIssuerIdentity: one CRL serves every certificate
// of its issuer, whichever CA was uploaded first and whichever holds the
// certificate that verified it; deleting one CA of the issuer keeps the
// CRL (moving its informational ca_id), deleting the last drops it. Every
// order of uploads is tried.
func TestFinding3_CRLBelongsToIssuerIdentity(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	root, cases := issuerCases(t)
	key := pki.IssuerKeyOf(root.Cert)
	orders := []string{"A CRL B", "A B CRL", "B CRL A", "B A CRL"}
	for _, tc := range cases {
		for _, order := range orders {
			t.Run(tc.name+"/"+order, func(t *testing.T) {
				if key != pki.IssuerKeyOf(tc.other.Cert) {
					t.Fatal("test setup: the two certificates are not of one issuer")
				}
				s := newStore(t, store.Limits{})
				ids := map[string]string{}
				var crl *pb.CRL
				for _, step := range strings.Fields(order) {
					var err error
					switch step {
					case "A":
						var ca *pb.ClientCA
						ca, err = s.CreateCA(ctx, admin, "A", tc.cert.PEM(), nil)
						ids["A"] = ca.GetId()
					case "B":
						var ca *pb.ClientCA
						ca, err = s.CreateCA(ctx, admin, "B", testpki.Bundle(append([]*testpki.Cert{tc.other}, tc.extra...)...), nil)
						ids["B"] = ca.GetId()
					case "CRL":
						crl, err = s.CreateCRL(ctx, admin, root.CRL(t, 1, now, now.Add(time.Hour), big.NewInt(42)))
					}
					if err != nil {
						t.Fatalf("%s: %v", step, err)
					}
				}
				st := s.Current()
				if n := len(st.CRLs()); n != 1 {
					t.Fatalf("%d CRLs, want 1", n)
				}
				for _, c := range []*testpki.Cert{tc.cert, tc.other} {
					if got := onlyCRLOf(t, st, pki.IssuerKeyOf(c.Cert)); got == nil || got.GetId() != crl.GetId() {
						t.Fatalf("CRL of %s's issuer = %v, want %s", c.Cert.Subject, got, crl.GetId())
					}
				}
				if string(crl.GetIssuerNameDer()) != key.Name || crl.GetIssuerSpkiSha256() != key.SPKI || !st.CRLInForce(st.CRL(crl.GetId())) {
					t.Fatalf("CRL identity = %x / %s, want the root's", crl.GetIssuerNameDer(), crl.GetIssuerSpkiSha256())
				}
				// A second upload for the issuer replaces the first, whichever
				// certificate of the issuer verifies it.
				next, err := s.CreateCRL(ctx, admin, tc.other.CRL(t, 2, now, now.Add(time.Hour), big.NewInt(43)))
				if err != nil {
					t.Fatalf("newer CRL for the issuer: %v", err)
				}
				if crls := s.Current().CRLs(); len(crls) != 1 || crls[0].GetId() != next.GetId() {
					t.Fatalf("after replacement: %v", crls)
				}
				// Deleting A leaves B holding the issuer: the CRL stays, and its
				// informational CA is B.
				if err := s.DeleteCA(ctx, admin, ids["A"], false); err != nil {
					t.Fatal(err)
				}
				kept := s.Current().CRL(next.GetId())
				if kept == nil {
					t.Fatal("the CRL went with one of two CAs of its issuer")
				}
				if kept.GetCaId() != ids["B"] || kept.GetIssuerSha256Fingerprint() != pki.Fingerprint(tc.other.Cert.Raw) {
					t.Fatalf("kept CRL names CA %s / %s, want B's certificate", kept.GetCaId(), kept.GetIssuerSha256Fingerprint())
				}
				if !proto.Equal(withoutInfo(kept), withoutInfo(next)) {
					t.Fatal("the kept CRL changed beyond its informational fields")
				}
				// Deleting the last certificate of the issuer drops the CRL.
				if err := s.DeleteCA(ctx, admin, ids["B"], false); err != nil {
					t.Fatal(err)
				}
				if n := len(s.Current().CRLs()); n != 0 {
					t.Fatalf("%d CRLs left after the issuer's last CA went", n)
				}
			})
		}
	}
}

func withoutInfo(c *pb.CRL) *pb.CRL {
	c = proto.Clone(c).(*pb.CRL)
	c.CaId, c.IssuerSha256Fingerprint = "", ""
	return c
}

// TestCRLReplacementRules: an upload for an issuer that has a CRL replaces
// it only when newer: by CRL number when both carry one, else by
// thisUpdate; a refusal names what is held and what was sent.
func TestCRLReplacementRules(t *testing.T) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	type crlFn func(*testing.T, *testpki.Cert) []byte
	numbered := func(n int64, at time.Time) crlFn {
		return func(t *testing.T, ca *testpki.Cert) []byte { return ca.CRL(t, n, at, at.Add(24*time.Hour)) }
	}
	unnumbered := func(at time.Time) crlFn {
		return func(t *testing.T, ca *testpki.Cert) []byte { return ca.CRLWithoutNumber(t, at, at.Add(24*time.Hour)) }
	}
	cases := []struct {
		name       string
		held, sent crlFn
		err        error    // nil: replaced
		msg        []string // in the refusal
	}{
		{"higher number replaces, even with an older thisUpdate", numbered(5, t0), numbered(6, t0.Add(-time.Minute)), nil, nil},
		{"equal number refused", numbered(5, t0), numbered(5, t0.Add(time.Minute)), store.ErrFailedPrecondition, []string{"number 5 is not higher than 5"}},
		{"lower number refused", numbered(5, t0), numbered(4, t0.Add(time.Minute)), store.ErrFailedPrecondition, []string{"number 4 is not higher than 5"}},
		{"numbers compared as numbers", numbered(255, t0), numbered(4096, t0), nil, nil},
		{"no number: later thisUpdate replaces", unnumbered(t0), unnumbered(t0.Add(time.Second)), nil, nil},
		{"no number: same thisUpdate refused", unnumbered(t0), unnumbered(t0), store.ErrFailedPrecondition, []string{"is not later than", "sent none, held none"}},
		{"no number: older thisUpdate refused", unnumbered(t0), unnumbered(t0.Add(-time.Minute)), store.ErrFailedPrecondition, []string{"is not later than"}},
		{"held without number: thisUpdate decides", unnumbered(t0), numbered(1, t0.Add(-time.Minute)), store.ErrFailedPrecondition, []string{"sent 1, held none"}},
		{"sent without number: thisUpdate decides", numbered(9, t0), unnumbered(t0.Add(time.Minute)), nil, nil},
		{"sent without number, older: refused", numbered(9, t0), unnumbered(t0.Add(-time.Minute)), store.ErrFailedPrecondition, []string{"sent none, held 9"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, store.Limits{})
			held, err := f.s.CreateCRL(context.Background(), admin, tc.held(t, f.root))
			if err != nil {
				t.Fatal(err)
			}
			before := f.s.Current()
			sent, err := f.s.CreateCRL(context.Background(), admin, tc.sent(t, f.root))
			if tc.err == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if crls := f.s.Current().CRLs(); len(crls) != 1 || crls[0].GetId() != sent.GetId() {
					t.Fatalf("CRLs after replacement: %v", crls)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), held.GetId()) {
				t.Fatalf("err = %v, want %v naming the held CRL %s", err, tc.err, held.GetId())
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Fatalf("err = %v, want it to say %q", err, m)
				}
			}
			unchanged(t, f.s, before)
		})
	}
	t.Run("same CRL again", func(t *testing.T) {
		f := newFixture(t, store.Limits{})
		der := f.root.CRL(t, 1, t0, t0.Add(time.Hour))
		if _, err := f.s.CreateCRL(context.Background(), admin, der); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.CreateCRL(context.Background(), admin, der); !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("err = %v, want already exists", err)
		}
	})
}

// TestLegacyCRLsKeepWorking: a database written before CRLs were keyed by
// issuer identity holds CRL records without it, bound to one certificate
// (and, for a renewed root, possibly two records of one issuer). On load
// they get the identity of that certificate; the newest is in force; the
// next upload for the issuer replaces them all.
func TestLegacyCRLsKeepWorking(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	r1 := testpki.NewRoot(t, "Legacy Root", testpki.Options{})
	r2 := r1.Reissue(t, nil, testpki.Options{})
	dir := t.TempDir()
	b := openBackend(t, dir)
	rec := func(key string, m proto.Message) store.Op {
		v, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return store.Op{Key: key, Value: v}
	}
	legacy := func(id string, n int64, at time.Time, bound *testpki.Cert, ca string) *pb.CRL {
		der := r1.CRL(t, n, at, at.Add(time.Hour))
		return &pb.CRL{Id: id, Der: der, Issuer: r1.Cert.Subject.String(), CaId: ca,
			IssuerSha256Fingerprint: pki.Fingerprint(bound.Cert.Raw), Number: pki.SerialHex(big.NewInt(n)),
			ThisUpdate: timestamppb.New(at), Sha256Fingerprint: pki.Fingerprint(der)}
	}
	// The key layout of the store as the older version wrote it.
	_, err := b.Txn(ctx, nil, []store.Op{
		rec("config/ca/ca-1", &pb.ClientCA{Id: "ca-1", Name: "one", BundlePem: string(r1.PEM())}),
		rec("config/ca/ca-2", &pb.ClientCA{Id: "ca-2", Name: "two", BundlePem: string(r2.PEM())}),
		rec("config/crl/crl-a", legacy("crl-a", 7, now, r1, "ca-1")),
		rec("config/crl/crl-b", legacy("crl-b", 3, now.Add(time.Minute), r2, "ca-2")),
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, b, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Current()
	key := pki.IssuerKeyOf(r1.Cert)
	for _, id := range []string{"crl-a", "crl-b"} {
		if store.CRLIssuerKey(st.CRL(id)) != key {
			t.Fatalf("%s: no issuer identity after load", id)
		}
	}
	if got := onlyCRLOf(t, st, key); got == nil || got.GetId() != "crl-a" {
		t.Fatalf("in force: %s, want crl-a (number 7 over 3)", got.GetId())
	}
	if _, err := s.CreateCRL(ctx, admin, r1.CRL(t, 7, now.Add(time.Hour), now.Add(2*time.Hour))); !errors.Is(err, store.ErrFailedPrecondition) {
		t.Fatalf("number 7 again: %v", err)
	}
	next, err := s.CreateCRL(ctx, admin, r2.CRL(t, 8, now, now.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if crls := s.Current().CRLs(); len(crls) != 1 || crls[0].GetId() != next.GetId() {
		t.Fatalf("after the upload: %v, want only the new CRL", crls)
	}
}

// onlyCRLOf returns the one CRL in force for an issuer identity, nil when
// it has none, and fails when it has several.
func onlyCRLOf(t *testing.T, st *store.State, k pki.IssuerKey) *pb.CRL {
	t.Helper()
	switch l := st.CRLsOfIssuer(k); len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	default:
		t.Fatalf("%d CRLs in force for one issuer, want one", len(l))
		return nil
	}
}
