package backup_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/backup"
	"github.com/mtlsgate/mtlsgate/store/bolt"
	"github.com/mtlsgate/mtlsgate/store/etcd"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var actor = store.Actor{TokenID: "test", Action: "Test"}

func boltBackend(t *testing.T) store.Backend {
	t.Helper()
	b, err := bolt.Open(filepath.Join(t.TempDir(), "store.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// populated is a store with a CA, a site whose private key is sealed, and
// the first admin token; it returns the token's secret.
func populated(t *testing.T, b store.Backend, ring *seal.Keyring) (*store.Store, string) {
	t.Helper()
	s, err := store.Open(t.Context(), b, store.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	root := testpki.NewRoot(t, "Backup Root", testpki.Options{})
	if _, err := s.CreateCA(t.Context(), actor, "clients", root.PEM(), nil); err != nil {
		t.Fatal(err)
	}
	srv := root.Server(t, "app.example.com")
	if _, err := s.CreateSite(t.Context(), actor, &pb.Site{Hostname: "app.example.com", OriginUrl: "http://127.0.0.1:8080",
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM())}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDenyEntry(t.Context(), actor, &pb.DenyEntry{Sha256Fingerprint: strings.Repeat("ab", 32), Site: "app.example.com"}); err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.Bootstrap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s, secret
}

// backupOf writes a backup of s to a file and returns its path.
func backupOf(t *testing.T, s *store.Store) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := backup.Export(t.Context(), s.Snapshot, "bbolt", &buf, time.Now()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mtlsgate.backup")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func restore(t *testing.T, b store.Backend, path string) (backup.Info, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return backup.Restore(context.Background(), b, f, backup.DefaultLimits())
}

// TestRestoreIntoBothBackends: a backup of a bbolt store restores into a
// new bbolt file and into etcd (the move to etcd), and the restored store
// is the same: its CA, its site with the private key opened by the same
// keyring, its token.
func TestRestoreIntoBothBackends(t *testing.T) {
	ring := seal.MustGenerate()
	src, secret := populated(t, boltBackend(t), ring)
	defer src.Close()
	path := backupOf(t, src)
	c := etcdtest.Start(t, etcdtest.Options{})
	targets := map[string]func() store.Backend{
		"bbolt": func() store.Backend { return boltBackend(t) },
		"etcd": func() store.Backend {
			b, err := etcd.Open(t.Context(), etcd.Options{Endpoints: c.Endpoints(), Prefix: "/restored/"})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
	for name, open := range targets {
		t.Run(name, func(t *testing.T) {
			b := open()
			info, err := restore(t, b, path)
			if err != nil || info.Keys == 0 {
				t.Fatalf("restore: %v (%d keys)", err, info.Keys)
			}
			got, err := store.Open(t.Context(), b, store.Options{Keyring: ring})
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			st := got.Current()
			site := st.Site("app.example.com")
			if len(st.CAs()) != 1 || site == nil || site.GetServerCertificate().GetInline().GetPrivateKeyPem() == "" {
				t.Fatalf("restored: %d CAs, site %v", len(st.CAs()), site != nil)
			}
			if d := st.DenyEntries(); len(d) != 1 || d[0].GetSite() != "app.example.com" {
				t.Fatalf("restored denylist: %v", d)
			}
			if _, err := st.Authenticate(secret); err != nil {
				t.Fatalf("the admin token does not authenticate after the restore: %v", err)
			}
		})
	}
}

// TestRestoreRefusesAndResumes: a store that holds data is refused and
// left as it was; a damaged file writes nothing; a restore that stopped
// half-way leaves a store Open refuses, and running it again finishes it.
func TestRestoreRefusesAndResumes(t *testing.T) {
	ring := seal.MustGenerate()
	src, _ := populated(t, boltBackend(t), ring)
	defer src.Close()
	path := backupOf(t, src)

	full := boltBackend(t)
	defer full.Close()
	if _, err := full.Txn(t.Context(), nil, []store.Op{{Key: "config/x", Value: []byte("y")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := restore(t, full, path); !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("restore into a store with data: %v", err)
	}

	raw, _ := os.ReadFile(path)
	raw[len(raw)/2] ^= 1
	damaged := filepath.Join(t.TempDir(), "damaged.backup")
	_ = os.WriteFile(damaged, raw, 0o600)
	empty := boltBackend(t)
	if _, err := restore(t, empty, damaged); !errors.Is(err, backup.ErrCorrupt) {
		t.Fatalf("restore of a damaged file: %v", err)
	}
	if kvs, _, _ := empty.Range(t.Context(), store.Range{}); len(kvs) != 0 {
		t.Fatalf("a damaged file wrote %d keys", len(kvs))
	}

	// Half-way: the marker and one key of the backup.
	if _, err := empty.Txn(t.Context(), nil, []store.Op{{Key: store.RestoreMarkerKey, Value: []byte("x")}, {Key: "config/partial", Value: []byte("p")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(t.Context(), empty, store.Options{Keyring: ring}); !errors.Is(err, store.ErrRestoreUnfinished) {
		t.Fatalf("Open of a half-restored store: %v", err)
	}
	if _, err := restore(t, empty, path); err != nil {
		t.Fatalf("restore again: %v", err)
	}
	got, err := store.Open(t.Context(), empty, store.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if kv, ok, _ := empty.Get(t.Context(), "config/partial"); ok {
		t.Fatalf("a key of the unfinished restore survived: %v", kv)
	}
}

// TestRestoreRefusesARecordTheTargetCannotTake: a record larger than the
// target takes in one transaction is refused before anything is written.
func TestRestoreRefusesARecordTheTargetCannotTake(t *testing.T) {
	ring := seal.MustGenerate()
	src, _ := populated(t, boltBackend(t), ring)
	defer src.Close()
	path := backupOf(t, src)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	target := boltBackend(t)
	defer target.Close()
	l := backup.DefaultLimits()
	l.TargetRequestBytes = 5000 // the site record (its chain and sealed key) is larger
	if _, err := backup.Restore(t.Context(), target, f, l); !errors.Is(err, backup.ErrTooLargeForTarget) {
		t.Fatalf("restore into a small target: %v", err)
	}
	if kvs, _, _ := target.Range(t.Context(), store.Range{}); len(kvs) != 0 {
		t.Fatalf("a refused restore wrote %d keys", len(kvs))
	}
}
