package store_test

import (
	"context"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/bolt"
)

var admin = store.Actor{TokenID: "admin-token", Action: "Test"}

func openBackend(t *testing.T, dir string) store.Backend {
	t.Helper()
	b, err := bolt.Open(filepath.Join(dir, "test.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newStore(t *testing.T, l store.Limits) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), openBackend(t, t.TempDir()), store.Options{Limits: l, Keyring: seal.MustGenerate()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fixture is a store with one root CA uploaded and one site using it.
type fixture struct {
	s    *store.Store
	root *testpki.Cert
	ca   *pb.ClientCA
	site *pb.Site
}

func newFixture(t *testing.T, l store.Limits) *fixture {
	t.Helper()
	f := &fixture{s: newStore(t, l), root: testpki.NewRoot(t, "Client Root", testpki.Options{})}
	var err error
	f.site, err = f.s.CreateSite(context.Background(), admin, siteFor(t, "app.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	f.ca, err = f.s.CreateCA(context.Background(), admin, "root", f.root.PEM(), []string{"app.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// siteFor returns a valid site input for host with a fresh server cert.
func siteFor(t *testing.T, host string) *pb.Site {
	t.Helper()
	srv := testpki.NewRoot(t, "Server CA", testpki.Options{}).Server(t, host)
	return &pb.Site{
		Hostname: host,
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM()),
		}}},
		OriginUrl: "http://127.0.0.1:8080",
	}
}

// unchanged asserts that a refused write left the store as it was.
func unchanged(t *testing.T, s *store.Store, before *store.State) {
	t.Helper()
	if got := s.Current().Rev; got != before.Rev {
		t.Fatalf("refused write moved the revision from %d to %d", before.Rev, got)
	}
}

func TestCreateCARefusesBadInput(t *testing.T) {
	root := testpki.NewRoot(t, "Root", testpki.Options{})
	big := make([]byte, store.DefaultLimits().MaxObjectBytes+1)
	cases := []struct {
		name, caName string
		bundle       []byte
		class, cause error
		msg          string
	}{
		{"empty", "x", []byte("  \n"), store.ErrInvalid, pki.ErrEmpty, "bundle"},
		{"garbage", "x", []byte("hello"), store.ErrInvalid, pki.ErrMalformed, "bundle"},
		{"private key", "x", append(root.PEM(), root.KeyPEM()...), store.ErrInvalid, pki.ErrPrivateKey, "bundle"},
		{"not a CA", "x", testpki.NotCA(t, "leafy").PEM(), store.ErrInvalid, pki.ErrNotCA, "bundle"},
		{"too big", "x", big, store.ErrLimit, nil, "cap"},
		{"no name", "", root.PEM(), store.ErrInvalid, nil, "name"},
		{"control char in name", "a\x00b", root.PEM(), store.ErrInvalid, nil, "control"},
		{"duplicate name", "root", testpki.NewRoot(t, "Other", testpki.Options{}).PEM(), store.ErrAlreadyExists, nil, "named"},
		{"duplicate bundle", "again", nil, store.ErrAlreadyExists, nil, "already uploaded"},
		{"unknown site", "x", testpki.NewRoot(t, "R3", testpki.Options{}).PEM(), store.ErrNotFound, nil, "nope.example.com"},
	}
	f := newFixture(t, store.Limits{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bundle := tc.bundle
			if bundle == nil {
				bundle = f.root.PEM()
			}
			before := f.s.Current()
			_, err := f.s.CreateCA(context.Background(), admin, tc.caName, bundle, []string{"nope.example.com"}[:boolInt(tc.name == "unknown site")])
			if !errors.Is(err, tc.class) || (tc.cause != nil && !errors.Is(err, tc.cause)) {
				t.Fatalf("err = %v, want %v / %v", err, tc.class, tc.cause)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), string(root.KeyPEM()[30:60])) {
				t.Errorf("error echoes key material: %q", err)
			}
			unchanged(t, f.s, before)
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestCreateCADerivesFactsAndAssigns(t *testing.T) {
	f := newFixture(t, store.Limits{})
	inter := f.root.Intermediate(t, "Issuing CA", testpki.Options{})
	chain, err := f.s.CreateCA(context.Background(), admin, "chain", testpki.Bundle(inter, testpki.NewRoot(t, "R2", testpki.Options{})), nil)
	if err != nil || chain.GetCertificateCount() != 2 || len(chain.GetCertificates()) != 2 {
		t.Fatalf("two-certificate bundle: %v, %v", chain, err)
	}
	// DER upload of a single certificate.
	ca, err := f.s.CreateCA(context.Background(), admin, "issuing", inter.Cert.Raw, []string{"app.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if ca.GetCertificateCount() != 1 || ca.GetInfo().GetSubject() != inter.Cert.Subject.String() ||
		ca.GetInfo().GetSha256Fingerprint() != pki.Fingerprint(inter.Cert.Raw) || ca.GetUploadedBy() != admin.TokenID {
		t.Fatalf("derived facts wrong: %v", ca)
	}
	if !strings.HasPrefix(ca.GetBundlePem(), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("bundle not normalised to PEM: %q", ca.GetBundlePem()[:20])
	}
	st := f.s.Current()
	if got := st.SitesOfCA(ca.GetId()); len(got) != 1 || got[0] != "app.example.com" {
		t.Fatalf("SitesOfCA = %v", got)
	}
	if ids := st.Site("app.example.com").GetCaIds(); len(ids) != 2 {
		t.Fatalf("site CA ids = %v, want both CAs", ids)
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	t.Run("CAs per account", func(t *testing.T) {
		f := newFixture(t, store.Limits{MaxCAs: 2})
		if _, err := f.s.CreateCA(ctx, admin, "two", testpki.NewRoot(t, "R2", testpki.Options{}).PEM(), nil); err != nil {
			t.Fatal(err)
		}
		before := f.s.Current()
		_, err := f.s.CreateCA(ctx, admin, "three", testpki.NewRoot(t, "R3", testpki.Options{}).PEM(), nil)
		if !errors.Is(err, store.ErrLimit) {
			t.Fatalf("third CA: err = %v, want ErrLimit", err)
		}
		unchanged(t, f.s, before)
	})
	t.Run("CAs per site", func(t *testing.T) {
		f := newFixture(t, store.Limits{MaxCAsPerSite: 2})
		var ids []string
		for i := range 2 {
			ca, err := f.s.CreateCA(ctx, admin, "extra"+string(rune('a'+i)), testpki.NewRoot(t, "X", testpki.Options{}).PEM(), nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ca.GetId())
		}
		if _, err := f.s.AssignSiteCAs(ctx, admin, "app.example.com", ids[:1], true); err != nil {
			t.Fatal(err)
		}
		before := f.s.Current()
		if _, err := f.s.AssignSiteCAs(ctx, admin, "app.example.com", ids[1:], true); !errors.Is(err, store.ErrLimit) {
			t.Fatalf("site assign over limit: err = %v", err)
		}
		if _, err := f.s.AssignCA(ctx, admin, ids[1], []string{"app.example.com"}, true); !errors.Is(err, store.ErrLimit) {
			t.Fatalf("CA assign over limit: err = %v", err)
		}
		unchanged(t, f.s, before)
	})
	t.Run("pins per identity", func(t *testing.T) {
		f := newFixture(t, store.Limits{MaxPinsPerIdentity: 2})
		pins := func(n int, id string) []*pb.Pin {
			var out []*pb.Pin
			for i := range n {
				out = append(out, &pb.Pin{Sha256Fingerprint: strings.Repeat(string("0123456789abcdef"[i]), 64), Identity: id})
			}
			return out
		}
		set := &pb.ClientCertSettings{Pins: append(pins(2, "alice"), pins(0, "")...)}
		if _, err := f.s.UpdateSettings(ctx, admin, "app.example.com", set, []string{"pins"}); err != nil {
			t.Fatal(err)
		}
		before := f.s.Current()
		set = &pb.ClientCertSettings{Pins: pins(3, "bob")}
		if _, err := f.s.UpdateSettings(ctx, admin, "app.example.com", set, []string{"pins"}); !errors.Is(err, store.ErrLimit) {
			t.Fatalf("3 pins for one identity: err = %v", err)
		}
		unchanged(t, f.s, before)
	})
	t.Run("CRL size", func(t *testing.T) {
		f := newFixture(t, store.Limits{MaxCRLBytes: 100})
		crl := f.root.CRL(t, 1, time.Now(), time.Now().Add(time.Hour), big.NewInt(1), big.NewInt(2), big.NewInt(3))
		if _, err := f.s.CreateCRL(ctx, admin, crl); !errors.Is(err, store.ErrLimit) {
			t.Fatalf("oversize CRL: err = %v", err)
		}
	})
}

// TestLimitHoldsAcrossWriters races two Stores on one backend (as two
// mtlsgate processes on one etcd would): the limit must hold exactly.
func TestLimitHoldsAcrossWriters(t *testing.T) {
	b := openBackend(t, t.TempDir())
	opts := store.Options{Limits: store.Limits{MaxCAs: 5}}
	s1, err := store.Open(context.Background(), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := store.Open(context.Background(), noClose{b}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*store.Store{s1, s2}[i%2]
			_, err := s.CreateCA(context.Background(), admin, "ca"+string(rune('a'+i)), testpki.NewRoot(t, "R", testpki.Options{}).PEM(), nil)
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrLimit) {
				t.Errorf("CreateCA: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 5 || len(s1.Current().CAs()) != 5 {
		t.Fatalf("%d creates succeeded, %d CAs stored; want exactly 5", ok, len(s1.Current().CAs()))
	}
}

// noClose shares a backend between two Stores; only the first closes it.
type noClose struct{ store.Backend }

func (noClose) Close() error { return nil }

// TestFollowCoalescesAndKeepsUp: a burst of writes reaches the consumer as
// few States, and the last one it sees is the latest.
func TestFollowCoalescesAndKeepsUp(t *testing.T) {
	f := newFixture(t, store.Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan *store.State, 100)
	go f.s.Follow(ctx, 300*time.Millisecond, 10*time.Second, func(st *store.State) { seen <- st })
	first := <-seen
	for i := range 10 {
		if _, err := f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{AllowExpired: i%2 == 0}, []string{"allow_expired"}); err != nil {
			t.Fatal(err)
		}
	}
	want := f.s.Current().Rev
	calls := 0
	for last := first; last.Rev < want; calls++ {
		select {
		case last = <-seen:
		case <-time.After(5 * time.Second):
			t.Fatalf("consumer stuck at rev %d, want %d", last.Rev, want)
		}
	}
	if calls >= 10 {
		t.Errorf("10 writes gave %d applies; want them coalesced", calls)
	}
}
