package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/bolt"
)

var quiet = slog.New(slog.DiscardHandler)

func keysConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// addSites opens the store of cfg like serve and creates sites; it returns
// their private keys by hostname.
func addSites(t *testing.T, cfg Config, hosts ...string) map[string]string {
	t.Helper()
	st, err := openStore(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys := map[string]string{}
	for _, h := range hosts {
		srv := testpki.NewRoot(t, "Server CA", testpki.Options{}).Server(t, h)
		_, err := st.CreateSite(context.Background(), store.Actor{TokenID: "t", Action: "Test"}, &pb.Site{
			Hostname: h, OriginUrl: "http://127.0.0.1:8080",
			ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
				CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM())}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		keys[h] = string(srv.KeyPEM())
	}
	return keys
}

// checkKeys opens the store of cfg like serve and checks every site's key.
func checkKeys(t *testing.T, cfg Config, want map[string]string) {
	t.Helper()
	st, err := openStore(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("the store does not open with the keyring on disk: %v", err)
	}
	defer st.Close()
	for h, k := range want {
		if got := st.Current().Site(h).GetServerCertificate().GetInline().GetPrivateKeyPem(); got != k {
			t.Fatalf("%s: key %.30q, want %.30q", h, got, k)
		}
	}
}

// assertNoKeyMaterial fails when the store file holds any of the keys' DER
// bytes or PEM lines.
func assertNoKeyMaterial(t *testing.T, cfg Config, keys map[string]string) {
	t.Helper()
	file, err := os.ReadFile(filepath.Join(cfg.Data, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for h, k := range keys {
		block, _ := pem.Decode([]byte(k))
		needles := [][]byte{block.Bytes}
		for _, line := range strings.Split(k, "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				needles = append(needles, []byte(line))
			}
		}
		for _, n := range needles {
			if bytes.Contains(file, n) {
				t.Fatalf("the store file holds key material of %s", h)
			}
		}
	}
}

// sealedUnder reports whether the store file holds a value sealed under
// key id (live or in a free page): the stored form starts with the
// sealed-value marker and the base64 of the seal header naming the id.
func sealedUnder(t *testing.T, cfg Config, id string) bool {
	t.Helper()
	file, err := os.ReadFile(filepath.Join(cfg.Data, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	hdr := append([]byte{seal.Version, byte(len(id))}, id...)
	b64 := base64.StdEncoding.EncodeToString(hdr)
	return bytes.Contains(file, []byte("mtlsgate-sealed:"+b64[:4*(len(hdr)/3)]))
}

func loadRing(t *testing.T, path string) *seal.Keyring {
	t.Helper()
	r, err := seal.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFirstStartCreatesKeyFileAndSeals(t *testing.T) {
	cfg := keysConfig(t)
	var logs bytes.Buffer
	st, err := openStore(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	path := filepath.Join(cfg.Data, DefaultSealKeyFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	text, _ := os.ReadFile(path)
	ring := loadRing(t, path)
	secret := strings.Fields(string(text[bytes.Index(text, []byte(ring.Primary())):]))[1]
	if !strings.Contains(logs.String(), path) || !strings.Contains(logs.String(), ring.Primary()) || strings.Contains(logs.String(), secret) {
		t.Fatalf("the log must name the file and key id, never the key:\n%s", logs.String())
	}
	keys := addSites(t, cfg, "a.example.com")
	assertNoKeyMaterial(t, cfg, keys)
	checkKeys(t, cfg, keys)
	if r := loadRing(t, path); r.String() != ring.String() {
		t.Fatal("a later start replaced the key file")
	}
}

// TestStartRefusesWithoutItsKey: the server does not start, and says which
// key it lacks, with a wrong, missing or unsafe key file.
func TestStartRefusesWithoutItsKey(t *testing.T) {
	cfg := keysConfig(t)
	keys := addSites(t, cfg, "a.example.com")
	path := filepath.Join(cfg.Data, DefaultSealKeyFile)
	good := loadRing(t, path)
	start := func() error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := cfg
		c.AdminAddr, c.AuthzAddr, c.XDSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		s, err := Start(ctx, c, quiet)
		if err == nil {
			cancel()
			_ = s.Serve(ctx)
			return errors.New("server started")
		}
		return err
	}
	t.Run("wrong key file", func(t *testing.T) {
		if err := seal.WriteFile(path, seal.MustGenerate()); err != nil {
			t.Fatal(err)
		}
		err := start()
		var uk *seal.UnknownKeyError
		if !errors.As(err, &uk) || uk.ID != good.Primary() || !strings.Contains(err.Error(), good.Primary()) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Start = %v; want an error naming key %s and the key file", err, good.Primary())
		}
	})
	t.Run("missing key file", func(t *testing.T) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		err := start()
		if !errors.Is(err, seal.ErrUnknownKey) || !strings.Contains(err.Error(), good.Primary()) {
			t.Fatalf("Start = %v; want the missing key named", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatal("a key file created for a store it cannot open was left behind")
		}
		c := cfg
		c.Seal.CreateKeyFile = false
		if _, err := openStore(context.Background(), c, quiet); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("create_key_file off: %v", err)
		}
	})
	t.Run("unsafe key file", func(t *testing.T) {
		if err := seal.WriteFile(path, good); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := start(); !errors.Is(err, seal.ErrUnsafeFile) {
			t.Fatalf("Start = %v; want ErrUnsafeFile", err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	checkKeys(t, cfg, keys)
}

func TestKeyringFromEnvironment(t *testing.T) {
	cfg, err := LoadConfig(nil, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = keysConfig(t).Data
	ring := seal.MustGenerate()
	text, _ := ring.KeyFileText()
	var entries []string
	for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		if !strings.HasPrefix(line, "#") {
			entries = append(entries, line)
		}
	}
	env := map[string]string{SealKeysEnv: strings.Join(entries, ";") + ";"}
	cfg, err = LoadConfig([]string{"--data", cfg.Data}, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg); strings.Contains(s, env[SealKeysEnv][10:]) {
		t.Fatal("printing the config shows the keyring")
	}
	keys := addSites(t, cfg, "a.example.com")
	if _, err := os.Stat(filepath.Join(cfg.Data, DefaultSealKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a key file was created although the keyring comes from the environment")
	}
	checkKeys(t, cfg, keys)
	// A key file beside the variable is ignored, and the log says so.
	if err := seal.CreateFile(filepath.Join(cfg.Data, DefaultSealKeyFile), seal.MustGenerate()); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	st, err := openStore(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if !strings.Contains(logs.String(), "ignored_file") || !strings.Contains(logs.String(), SealKeysEnv) {
		t.Fatalf("the log does not say which source is used:\n%s", logs.String())
	}
	if _, err := RotateKeys(context.Background(), cfg, quiet); err == nil || !strings.Contains(err.Error(), SealKeysEnv) {
		t.Fatalf("RotateKeys with the variable = %v", err)
	}
}

// TestFirstStartSealsPlaintextStore: a store written before sealing is
// sealed at the first start, and compacted so that the plaintext is gone
// from the file.
func TestFirstStartSealsPlaintextStore(t *testing.T) {
	cfg := keysConfig(t)
	keys := addSites(t, cfg, "a.example.com", "b.example.com")
	// Write the keys back in plaintext, as an older version stored them.
	b, err := bolt.Open(filepath.Join(cfg.Data, DBFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for h, k := range keys {
		kv, _, err := b.Get(context.Background(), "config/site/"+h)
		if err != nil {
			t.Fatal(err)
		}
		site := new(pb.Site)
		_ = proto.Unmarshal(kv.Value, site)
		site.GetServerCertificate().GetInline().PrivateKeyPem = k
		v, _ := proto.Marshal(site)
		if _, err := b.Txn(context.Background(), nil, []store.Op{{Key: kv.Key, Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	_ = b.Close()
	if err := os.Remove(filepath.Join(cfg.Data, DefaultSealKeyFile)); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, cfg, keys) // the first start with sealing
	assertNoKeyMaterial(t, cfg, keys)
}

func TestRotateKeys(t *testing.T) {
	cfg := keysConfig(t)
	keys := addSites(t, cfg, "a.example.com", "b.example.com")
	path := filepath.Join(cfg.Data, DefaultSealKeyFile)
	old := loadRing(t, path)
	res, err := RotateKeys(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	now := loadRing(t, path)
	if len(now.IDs()) != 1 || now.Primary() != res.NewKey || res.NewKey == old.Primary() || res.Resealed != 2 ||
		fmt.Sprint(res.Retired) != fmt.Sprint(old.IDs()) {
		t.Fatalf("after rotation: keyring %v, result %+v (old %v)", now, res, old)
	}
	checkKeys(t, cfg, keys)
	var out bytes.Buffer
	if err := KeysStatus(context.Background(), cfg, quiet, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), now.Primary()+"  primary  2") || strings.Contains(out.String(), old.Primary()) {
		t.Fatalf("status after rotation:\n%s", out.String())
	}
	// The old ciphertexts are gone from the file: nothing opens with the
	// retired key, not even from free pages.
	if sealedUnder(t, cfg, old.Primary()) {
		t.Fatal("the store file still holds values sealed under the retired key")
	}
	// A server with the retired key file refuses to start, naming the key.
	if err := seal.WriteFile(path, old); err != nil {
		t.Fatal(err)
	}
	if _, err := openStore(context.Background(), cfg, quiet); !errors.Is(err, seal.ErrUnknownKey) || !strings.Contains(err.Error(), now.Primary()) {
		t.Fatalf("open with the retired key: %v", err)
	}
	var status bytes.Buffer
	if err := KeysStatus(context.Background(), cfg, quiet, &status); err == nil || !strings.Contains(status.String(), now.Primary()+"  MISSING") {
		t.Fatalf("status with the retired key = %v:\n%s", err, status.String())
	}
}

// TestRotateKeysCrashAtEachStep stops the rotation after each step, as a
// crash would: the store must open with the key file then on disk, and a
// second rotation must finish the job.
func TestRotateKeysCrashAtEachStep(t *testing.T) {
	for _, step := range []rotateStep{stepKeyringWithBoth, stepResealed, stepCompacted} {
		t.Run(string(step), func(t *testing.T) {
			cfg := keysConfig(t)
			keys := addSites(t, cfg, "a.example.com", "b.example.com")
			path := filepath.Join(cfg.Data, DefaultSealKeyFile)
			crash := errors.New("crash")
			afterRotateStep = func(s rotateStep) error {
				if s == step {
					return crash
				}
				return nil
			}
			_, err := RotateKeys(context.Background(), cfg, quiet)
			afterRotateStep = nil
			if !errors.Is(err, crash) {
				t.Fatalf("RotateKeys = %v, want the simulated crash", err)
			}
			// Before compaction the old ciphertexts are still in free pages
			// (which shows that sealedUnder, used after compaction in
			// TestRotateKeys, can see them).
			if step == stepResealed && !sealedUnder(t, cfg, loadRing(t, path).IDs()[1]) {
				t.Fatal("no value sealed under the old key found before compaction")
			}
			if n := len(loadRing(t, path).IDs()); n != 2 {
				t.Fatalf("key file after a crash at %s holds %d keys, want the new and the old", step, n)
			}
			checkKeys(t, cfg, keys)
			res, err := RotateKeys(context.Background(), cfg, quiet)
			if err != nil {
				t.Fatal(err)
			}
			if ids := loadRing(t, path).IDs(); len(ids) != 1 || ids[0] != res.NewKey || len(res.Retired) != 2 {
				t.Fatalf("second rotation: key file %v, result %+v", ids, res)
			}
			checkKeys(t, cfg, keys)
		})
	}
}

func TestKeysCommandsNeedTheServerStopped(t *testing.T) {
	cfg := keysConfig(t)
	addSites(t, cfg, "a.example.com")
	st, err := openStore(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before, _ := os.ReadFile(filepath.Join(cfg.Data, DefaultSealKeyFile))
	if _, err := RotateKeys(context.Background(), cfg, quiet); err == nil || !strings.Contains(err.Error(), "stop mtlsgate serve") {
		t.Fatalf("RotateKeys on a running store = %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(cfg.Data, DefaultSealKeyFile)); !bytes.Equal(before, after) {
		t.Fatal("a refused rotation changed the key file")
	}
}
