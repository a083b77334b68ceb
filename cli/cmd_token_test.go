package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestTokenSecretFile: --secret-file writes the secret to a new 0600
// file and keeps it off stdout in every format; an existing file is never
// overwritten and no token is made then; a failed create leaves no file.
func TestTokenSecretFile(t *testing.T) {
	created := &pb.CreateTokenResponse{Token: &pb.Token{Id: "tok-9", Name: "auditor", Role: pb.Role_ROLE_VIEWER}, Secret: "mtg.tok-9.SECRET"}
	for _, format := range outputFormats {
		path := filepath.Join(t.TempDir(), "viewer.token")
		f := (&fakeAPI{}).on("CreateToken", reply(created))
		code, out, errOut := runFake(f, testEnv{}, "token", "create", "--role", "viewer", "--secret-file", path, "-o", format)
		if code != 0 {
			t.Fatalf("-o %s: exit %d, stderr %q", format, code, errOut)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != "mtg.tok-9.SECRET\n" {
			t.Fatalf("-o %s: file %q, %v", format, b, err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("-o %s: mode %v, want 0600", format, fi.Mode().Perm())
		}
		if strings.Contains(out, "SECRET") {
			t.Errorf("-o %s: the secret is on stdout: %q", format, out)
		}
		if want := map[string]string{"id": "tok-9\n", "table": "Secret:  in " + path + " (mode 0600)\n"}[format]; !strings.Contains(out, want) {
			t.Errorf("-o %s: %q, want %q in it", format, out, want)
		}
	}

	path := filepath.Join(t.TempDir(), "taken")
	os.WriteFile(path, []byte("another token\n"), 0o600)
	f := (&fakeAPI{}).on("CreateToken", reply(created))
	code, _, errOut := runFake(f, testEnv{}, "token", "create", "--role", "viewer", "--secret-file", path)
	if b, _ := os.ReadFile(path); code != 1 || len(f.calls) != 0 || string(b) != "another token\n" || !strings.Contains(errOut, "file exists") {
		t.Errorf("existing file: exit %d, calls %v, file %q, stderr %q", code, f.calls, b, errOut)
	}

	path = filepath.Join(t.TempDir(), "new.token")
	f = (&fakeAPI{}).on("CreateToken", fail(codes.PermissionDenied, "no"))
	if code, _, _ := runFake(f, testEnv{}, "token", "create", "--role", "viewer", "--secret-file", path); code != 1 {
		t.Errorf("refused create: exit %d", code)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("refused create left %s behind: %v", path, err)
	}
}

// TestBackupOutputs: backup says what it wrote, as a sentence, as JSON,
// or (-o id) the file restore --in takes.
func TestBackupOutputs(t *testing.T) {
	for format, want := range map[string]string{
		"table": "wrote OUT: revision 7, 1 keys,", "json": `"file": "OUT",` + "\n  \"revision\": 7,\n  \"keys\": 1,", "id": "OUT\n",
	} {
		path := filepath.Join(t.TempDir(), "b.backup")
		f := everyMethodAPI(t)
		code, out, errOut := runFake(f, testEnv{}, "backup", "--out", path, "-o", format)
		if want = strings.ReplaceAll(want, "OUT", path); code != 0 || !strings.Contains(out, want) {
			t.Errorf("-o %s: exit %d, %q (stderr %q); want %q in it", format, code, out, errOut, want)
		}
	}
}
