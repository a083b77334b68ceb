package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	r := MustGenerate()
	pt := []byte("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
	aad := []byte("config/site/a.example.com\x00private_key_pem")
	ct, err := r.Seal(pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("secret")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	if id, err := KeyID(ct); err != nil || id != r.Primary() {
		t.Fatalf("KeyID = %q, %v; want %q", id, err, r.Primary())
	}
	got, err := r.Open(ct, aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	ct2, _ := r.Seal(pt, aad)
	if bytes.Equal(ct, ct2) {
		t.Fatal("two seals of one plaintext are equal: nonce reused")
	}
	empty, err := r.Seal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Open(empty, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty round trip = %q, %v", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	r := MustGenerate()
	other := MustGenerate()
	aad := []byte("config/site/a\x00k")
	ct, err := r.Seal([]byte("secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 1
		return c
	}
	// A key with r's id but other key bytes: the id matches, the key does not.
	text, _ := other.KeyFileText()
	impostor, err := Parse(bytes.ReplaceAll(text, []byte(other.Primary()), []byte(r.Primary())))
	if err != nil {
		t.Fatal(err)
	}
	idLen := len(r.Primary())
	for _, tc := range []struct {
		name string
		ring *Keyring
		ct   []byte
		aad  []byte
		want error
	}{
		{"other aad (moved record)", r, ct, []byte("config/site/b\x00k"), ErrAuth},
		{"no aad", r, ct, nil, ErrAuth},
		{"flipped body", r, flip(len(ct) - 1), aad, ErrAuth},
		{"flipped nonce", r, flip(2 + idLen), aad, ErrAuth},
		{"same id, other key", impostor, ct, aad, ErrAuth},
		{"unknown key", other, ct, aad, ErrUnknownKey},
		{"flipped id", r, flip(2), aad, ErrUnknownKey},
		{"bad version", r, flip(0), aad, ErrMalformed},
		{"empty", r, nil, aad, ErrMalformed},
		{"header only", r, ct[:2+idLen], aad, ErrMalformed},
		{"no tag", r, ct[:2+idLen+nonceSize+tagSize-1], aad, ErrMalformed},
		{"id length past end", r, []byte{Version, 200, 'a'}, aad, ErrMalformed},
		{"bad id byte", r, append([]byte{Version, 1, '/'}, make([]byte, nonceSize+tagSize)...), aad, ErrMalformed},
		{"zero id", r, append([]byte{Version, 0}, make([]byte, nonceSize+tagSize)...), aad, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ring.Open(tc.ct, tc.aad)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tc.want)
			}
		})
	}
	_, err = other.Open(ct, aad)
	var uk *UnknownKeyError
	if !errors.As(err, &uk) || uk.ID != r.Primary() || !strings.Contains(err.Error(), r.Primary()) {
		t.Fatalf("unknown key error %v does not name key %q", err, r.Primary())
	}
}

func TestRotationKeyring(t *testing.T) {
	old := MustGenerate()
	ct, _ := old.Seal([]byte("v"), nil)
	both, err := old.WithNewPrimary()
	if err != nil {
		t.Fatal(err)
	}
	if both.Primary() == old.Primary() || len(both.IDs()) != 2 || both.IDs()[1] != old.Primary() {
		t.Fatalf("WithNewPrimary ids = %v (old %s)", both.IDs(), old.Primary())
	}
	if _, err := both.Open(ct, nil); err != nil {
		t.Fatalf("new keyring does not open the old key's value: %v", err)
	}
	ct2, _ := both.Seal([]byte("v"), nil)
	if id, _ := KeyID(ct2); id != both.Primary() {
		t.Fatalf("sealed under %s, want the new primary %s", id, both.Primary())
	}
	only, err := both.Only(both.Primary())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := only.Open(ct, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key still opens: %v", err)
	}
	if _, err := both.Only(old.Primary()); err == nil {
		t.Fatal("Only dropped the primary")
	}
	if _, err := both.Only("nope"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Only(unknown) = %v", err)
	}
}

func TestParse(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	k2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, KeySize))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize-1))
	for _, tc := range []struct {
		name, text string
		ids        []string // nil: want an error
		errHas     string
	}{
		{"one", "a " + k1, []string{"a"}, ""},
		{"lines and comments", "# c\n\n  a  " + k1 + "\r\n b_2-X\t" + k2 + "\n", []string{"a", "b_2-X"}, ""},
		{"semicolons (env)", "new " + k2 + ";old " + k1 + ";", []string{"new", "old"}, ""},
		{"empty", "", nil, "no key"},
		{"comments only", "# nothing\n", nil, "no key"},
		{"duplicate id", "a " + k1 + "\na " + k2, nil, "twice"},
		{"one field", "a", nil, "1 fields"},
		{"three fields", "a " + k1 + " x", nil, "3 fields"},
		{"short key", "a " + short, nil, "31 bytes"},
		{"long key", "a " + k1 + "AAAA", nil, "not 32 bytes"},
		{"bad base64", "a " + strings.Replace(k1, "A", "!", 1), nil, "not standard base64"},
		{"unpadded", "a " + strings.TrimRight(k1, "="), nil, "not standard base64"},
		{"bad id", "a/b " + k1, nil, "only letters"},
		{"long id", strings.Repeat("a", MaxIDLen+1) + " " + k1, nil, "1 to 32"},
		{"too big", strings.Repeat("#", MaxTextSize+1), nil, "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.text))
			if tc.ids == nil {
				if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("Parse = %v, %v; want ErrMalformed containing %q", r, err, tc.errHas)
				}
				if strings.Contains(err.Error(), k1) || strings.Contains(err.Error(), k2) {
					t.Fatalf("error echoes key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(r.IDs()) != fmt.Sprint(tc.ids) {
				t.Fatalf("ids = %v, want %v", r.IDs(), tc.ids)
			}
		})
	}
	var many strings.Builder
	for i := range MaxKeys + 1 {
		fmt.Fprintf(&many, "k%d %s\n", i, k1)
	}
	if _, err := Parse([]byte(many.String())); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Parse(%d keys) = %v", MaxKeys+1, err)
	}
}

func TestKeyringNeverPrintsKeys(t *testing.T) {
	r := MustGenerate()
	text, _ := r.KeyFileText()
	secret := strings.Fields(strings.TrimSpace(string(text[bytes.LastIndexByte(text[:len(text)-1], '\n')+1:])))[1]
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "keyring", r)
	js, err := json.Marshal(struct{ R *Keyring }{r})
	if err != nil || strings.Contains(string(js), secret) {
		t.Fatalf("JSON of a keyring shows key material: %s, %v", js, err)
	}
	for _, s := range []string{fmt.Sprint(r), fmt.Sprintf("%v %+v %#v %s", r, r, r, r), logged.String()} {
		if strings.Contains(s, secret) || !strings.Contains(s, r.Primary()) {
			t.Fatalf("printed keyring %q: key material shown or id missing", s)
		}
	}
	back, err := Parse(text)
	if err != nil || fmt.Sprint(back.IDs()) != fmt.Sprint(r.IDs()) {
		t.Fatalf("KeyFileText does not parse back: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	r := MustGenerate()
	path := filepath.Join(dir, "seal.key")
	if err := CreateFile(path, r); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created mode = %v, %v; want 0600", fi.Mode(), err)
	}
	got, err := LoadFile(path)
	if err != nil || got.Primary() != r.Primary() {
		t.Fatalf("LoadFile = %v, %v", got, err)
	}
	if err := CreateFile(path, MustGenerate()); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateFile over an existing file = %v", err)
	}
	if got, _ := LoadFile(path); got.Primary() != r.Primary() {
		t.Fatal("CreateFile replaced an existing key file")
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o610} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path)
		if !errors.Is(err, ErrUnsafeFile) || !strings.Contains(err.Error(), fmt.Sprintf("%04o", mode)) {
			t.Fatalf("mode %04o: LoadFile = %v, want ErrUnsafeFile naming the mode", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err != nil {
		t.Fatalf("mode 0400: %v", err)
	}
	if _, err := LoadFile(dir); !errors.Is(err, ErrUnsafeFile) {
		t.Fatalf("directory: %v", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("absent: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("a b c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("malformed: %v (want ErrMalformed naming the file)", err)
	}
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seal.key")
	r := MustGenerate()
	if err := CreateFile(path, r); err != nil {
		t.Fatal(err)
	}
	both, _ := r.WithNewPrimary()
	if err := WriteFile(path, both); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFile(path)
	if err != nil || fmt.Sprint(got.IDs()) != fmt.Sprint(both.IDs()) {
		t.Fatalf("after WriteFile: %v, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestLoad(t *testing.T) {
	envRing := MustGenerate()
	envText, _ := envRing.KeyFileText()
	t.Run("creates the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "seal.key")
		r, src, err := Load(LoadOptions{File: path, Create: true})
		if err != nil || !src.Created || src.File != path {
			t.Fatalf("Load = %v, %+v, %v", r, src, err)
		}
		again, src, err := Load(LoadOptions{File: path, Create: true})
		if err != nil || src.Created || again.Primary() != r.Primary() {
			t.Fatalf("second Load = %v, %+v, %v", again, src, err)
		}
	})
	t.Run("absent without create", func(t *testing.T) {
		_, _, err := Load(LoadOptions{File: filepath.Join(t.TempDir(), "seal.key")})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Load = %v", err)
		}
	})
	t.Run("env wins and names the ignored file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "seal.key")
		if err := CreateFile(path, MustGenerate()); err != nil {
			t.Fatal(err)
		}
		r, src, err := Load(LoadOptions{File: path, EnvName: "MTLSGATE_SEAL_KEYS", EnvValue: string(envText), Create: true})
		if err != nil || r.Primary() != envRing.Primary() || src.Env != "MTLSGATE_SEAL_KEYS" || src.Ignored != path {
			t.Fatalf("Load = %v, %+v, %v", r, src, err)
		}
	})
	t.Run("env does not create a file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "seal.key")
		_, src, err := Load(LoadOptions{File: path, EnvName: "V", EnvValue: "x " + base64.StdEncoding.EncodeToString(make([]byte, KeySize)), Create: true})
		if err != nil || src.Ignored != "" {
			t.Fatalf("Load = %+v, %v", src, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a key file was created although the variable is set: %v", err)
		}
	})
	t.Run("bad env names the variable", func(t *testing.T) {
		_, _, err := Load(LoadOptions{EnvName: "MTLSGATE_SEAL_KEYS", EnvValue: "nope"})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "MTLSGATE_SEAL_KEYS") {
			t.Fatalf("Load = %v", err)
		}
	})
}

func TestCreateExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seal.key")
	r := MustGenerate()
	if err := createExclusive(path, r); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadFile(path); err != nil || got.Primary() != r.Primary() {
		t.Fatalf("LoadFile = %v, %v", got, err)
	}
	if err := createExclusive(path, MustGenerate()); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create = %v", err)
	}
}
