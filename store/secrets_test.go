package store_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/bolt"
)

const siteKey = "config/site/"

// openSealed opens a store on a real bbolt file in dir.
func openSealed(t *testing.T, dir string, ring *seal.Keyring) (*store.Store, error) {
	t.Helper()
	b := openBackend(t, dir)
	s, err := store.Open(context.Background(), b, store.Options{Keyring: ring})
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return s, nil
}

func mustOpenSealed(t *testing.T, dir string, ring *seal.Keyring) *store.Store {
	t.Helper()
	s, err := openSealed(t, dir, ring)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func keyOf(site *pb.Site) string { return site.GetServerCertificate().GetInline().GetPrivateKeyPem() }

// rawSite reads a site record straight from the bbolt file (the store
// closed), and writes it back changed by edit when edit is non-nil.
func rawSite(t *testing.T, dir, host string, edit func(*pb.Site)) *pb.Site {
	t.Helper()
	b, err := bolt.Open(filepath.Join(dir, "test.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	kv, ok, err := b.Get(ctx, siteKey+host)
	if err != nil || !ok {
		t.Fatalf("raw get %s: %v, %v", host, ok, err)
	}
	site := new(pb.Site)
	if err := proto.Unmarshal(kv.Value, site); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(site)
		v, err := proto.Marshal(site)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Txn(ctx, nil, []store.Op{{Key: siteKey + host, Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	return site
}

// keyMaterial returns what of a PEM private key must never be in the file:
// the DER bytes and every base64 line of the PEM body.
func keyMaterial(t *testing.T, keyPEM string) [][]byte {
	t.Helper()
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		t.Fatal("test key is not PEM")
	}
	out := [][]byte{block.Bytes}
	for _, line := range strings.Split(keyPEM, "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			out = append(out, []byte(line))
		}
	}
	return out
}

func TestBoltFileHoldsNoPlaintextKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ring := seal.MustGenerate()
	s, err := openSealed(t, dir, ring)
	if err != nil {
		t.Fatal(err)
	}
	in := siteFor(t, "app.example.com")
	want := keyOf(in)
	got, err := s.CreateSite(ctx, admin, in)
	if err != nil {
		t.Fatal(err)
	}
	if keyOf(got) != want || keyOf(s.Current().Site("app.example.com")) != want {
		t.Fatal("the State does not hold the plaintext key the translator needs")
	}
	// An update that does not name the certificate re-encodes the record.
	if _, err := s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE}, []string{"mode"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range keyMaterial(t, want) {
		if bytes.Contains(file, m) {
			t.Fatalf("the bbolt file holds private key material %.40q", m)
		}
	}
	if !bytes.Contains(file, []byte("mtlsgate-sealed:")) {
		t.Fatal("the bbolt file holds no sealed value")
	}
	if raw := keyOf(rawSite(t, dir, "app.example.com", nil)); !strings.HasPrefix(raw, "mtlsgate-sealed:") {
		t.Fatalf("stored key is not sealed: %.40q", raw)
	}
	s = mustOpenSealed(t, dir, ring)
	if keyOf(s.Current().Site("app.example.com")) != want {
		t.Fatal("reopened store does not open the key")
	}
}

func TestSealedKeyIsBoundToItsRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ring := seal.MustGenerate()
	s, err := openSealed(t, dir, ring)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a.example.com", "b.example.com"} {
		if _, err := s.CreateSite(ctx, admin, siteFor(t, h)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// An attacker with write access to the store copies b's sealed key
	// into a's record (so that a would serve with b's key).
	bKey := keyOf(rawSite(t, dir, "b.example.com", nil))
	rawSite(t, dir, "a.example.com", func(s *pb.Site) { s.GetServerCertificate().GetInline().PrivateKeyPem = bKey })
	_, err = openSealed(t, dir, ring)
	if !errors.Is(err, seal.ErrAuth) || !strings.Contains(err.Error(), "config/site/a.example.com") {
		t.Fatalf("Open with a moved ciphertext = %v; want seal.ErrAuth naming the record", err)
	}
}

func TestOpenNeedsTheRightKeyring(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ring := seal.MustGenerate()
	s, err := openSealed(t, dir, ring)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSite(ctx, admin, siteFor(t, "app.example.com")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = openSealed(t, dir, nil)
	if !errors.Is(err, store.ErrNoKeyring) || !strings.Contains(err.Error(), ring.Primary()) {
		t.Fatalf("Open without a keyring = %v; want ErrNoKeyring naming key %s", err, ring.Primary())
	}
	_, err = openSealed(t, dir, seal.MustGenerate())
	var uk *seal.UnknownKeyError
	if !errors.As(err, &uk) || uk.ID != ring.Primary() || !strings.Contains(err.Error(), ring.Primary()) {
		t.Fatalf("Open with another keyring = %v; want an UnknownKeyError naming %s", err, ring.Primary())
	}
}

func TestWriteWithoutKeyringChangesNothing(t *testing.T) {
	ctx := context.Background()
	s := mustOpenSealed(t, t.TempDir(), nil)
	before := s.Current()
	_, err := s.CreateSite(ctx, admin, siteFor(t, "app.example.com"))
	if !errors.Is(err, store.ErrNoKeyring) {
		t.Fatalf("CreateSite without a keyring = %v", err)
	}
	unchanged(t, s, before)
	// A site whose key lives on the Envoy host holds no secret.
	files := &pb.Site{Hostname: "files.example.com", OriginUrl: "http://127.0.0.1:8080",
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
			CertificateChainPath: "/etc/c.pem", PrivateKeyPath: "/etc/k.pem"}}}}
	if _, err := s.CreateSite(ctx, admin, files); err != nil {
		t.Fatalf("file-based site without a keyring: %v", err)
	}
}

func TestMigratePlaintextStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ring := seal.MustGenerate()
	s, err := openSealed(t, dir, ring)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"a.example.com", "b.example.com"}
	want := map[string]string{}
	for _, h := range hosts {
		site, err := s.CreateSite(ctx, admin, siteFor(t, h))
		if err != nil {
			t.Fatal(err)
		}
		want[h] = keyOf(site)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Make the store look like one written before sealing existed.
	for _, h := range hosts {
		rawSite(t, dir, h, func(s *pb.Site) { s.GetServerCertificate().GetInline().PrivateKeyPem = want[h] })
	}
	_, err = openSealed(t, dir, nil)
	if !errors.Is(err, store.ErrNoKeyring) || !strings.Contains(err.Error(), "2 plaintext") {
		t.Fatalf("Open of a plaintext store without a keyring = %v", err)
	}
	if raw := keyOf(rawSite(t, dir, "a.example.com", nil)); raw != want["a.example.com"] {
		t.Fatal("a refused Open changed the store")
	}
	newRing := seal.MustGenerate()
	s = mustOpenSealed(t, dir, newRing)
	for _, h := range hosts {
		if keyOf(s.Current().Site(h)) != want[h] {
			t.Fatalf("%s: key changed by the migration", h)
		}
	}
	st, err := s.SealStatus(ctx)
	if err != nil || st.Plaintext != 0 || st.ByKey[newRing.Primary()] != 2 || len(st.ByKey) != 1 || s.SealedAtOpen() != 2 {
		t.Fatalf("after migration: %+v, %v", st, err)
	}
	events, _, err := s.ListAudit(ctx, store.AuditQuery{})
	if err != nil || events[0].GetAction() != "SealPlaintextKeys" || !strings.Contains(events[0].GetMessage(), "sealed 2 values") {
		t.Fatalf("migration not audited: %v, %v", events[0], err)
	}
	rev := s.Current().Rev
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if raw := keyOf(rawSite(t, dir, h, nil)); !strings.HasPrefix(raw, "mtlsgate-sealed:") {
			t.Fatalf("%s still plaintext after migration", h)
		}
	}
	s = mustOpenSealed(t, dir, newRing)
	if s.Current().Rev != rev {
		t.Fatal("a second open migrated again")
	}
}

func TestResealRotatesEveryValue(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := seal.MustGenerate()
	s, err := openSealed(t, dir, old)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		if _, err := s.CreateSite(ctx, admin, siteFor(t, h)); err != nil {
			t.Fatal(err)
		}
	}
	want := keyOf(s.Current().Site("b.example.com"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	both, err := old.WithNewPrimary()
	if err != nil {
		t.Fatal(err)
	}
	s, err = openSealed(t, dir, both)
	if err != nil {
		t.Fatal(err)
	}
	// A write while both keys are present seals under the new primary.
	if _, err := s.UpdateSettings(ctx, admin, "a.example.com", &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}, []string{"mode"}); err != nil {
		t.Fatal(err)
	}
	st, err := s.SealStatus(ctx)
	if err != nil || st.ByKey[both.Primary()] != 1 || st.ByKey[old.Primary()] != 2 {
		t.Fatalf("before reseal: %+v, %v", st, err)
	}
	n, err := s.Reseal(ctx, admin)
	if err != nil || n != 2 {
		t.Fatalf("Reseal = %d, %v; want the 2 values under the old key", n, err)
	}
	if n, err := s.Reseal(ctx, admin); err != nil || n != 0 {
		t.Fatalf("second Reseal = %d, %v; want nothing to do", n, err)
	}
	if st, _ := s.SealStatus(ctx); st.ByKey[both.Primary()] != 3 || len(st.KeyIDs()) != 1 {
		t.Fatalf("after reseal: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	newOnly, err := both.Only(both.Primary())
	if err != nil {
		t.Fatal(err)
	}
	s, err = openSealed(t, dir, newOnly)
	if err != nil {
		t.Fatal(err)
	}
	if keyOf(s.Current().Site("b.example.com")) != want {
		t.Fatal("key changed by the rotation")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := openSealed(t, dir, old); !errors.Is(err, seal.ErrUnknownKey) {
		t.Fatalf("the retired key alone still opens the store: %v", err)
	}
}

// TestFollowerOpensSealedValues: a second Store on the same backend (a
// replica) sees the writes of the first with their keys opened.
func TestFollowerOpensSealedValues(t *testing.T) {
	ctx := context.Background()
	ring := seal.MustGenerate()
	b := openBackend(t, t.TempDir())
	s1, err := store.Open(ctx, b, store.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := store.Open(ctx, noClose{b}, store.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	before := s2.Current()
	site, err := s1.CreateSite(ctx, admin, siteFor(t, "app.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	for st := before; ; {
		next, err := s2.Next(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if got := next.Site("app.example.com"); got != nil {
			if keyOf(got) != keyOf(site) {
				t.Fatal("replica holds another key than the writer")
			}
			return
		}
		st = next
	}
}
