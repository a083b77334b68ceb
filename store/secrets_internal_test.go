package store

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mtlsgate/mtlsgate/seal"
)

// TestSecretRecordsResolve: every listed secret path names a singular
// string field through singular message fields, so fieldAt never panics
// on a stored record.
func TestSecretRecordsResolve(t *testing.T) {
	for _, rec := range secretRecords {
		for _, path := range rec.paths {
			md := rec.newMsg().ProtoReflect().Descriptor()
			names := strings.Split(path, ".")
			for i, name := range names {
				fd := md.Fields().ByName(protoreflect.Name(name))
				switch {
				case fd == nil:
					t.Fatalf("%s: %s has no field %s", path, md.FullName(), name)
				case fd.IsList() || fd.IsMap():
					t.Fatalf("%s: %s is repeated", path, name)
				case i == len(names)-1 && fd.Kind() != protoreflect.StringKind:
					t.Fatalf("%s: not a string field", path)
				case i < len(names)-1 && fd.Message() == nil:
					t.Fatalf("%s: %s is not a message", path, name)
				}
				if i < len(names)-1 {
					md = fd.Message()
				}
			}
		}
	}
}

func TestSealField(t *testing.T) {
	ring := seal.MustGenerate()
	const key, path = "config/site/a", "server_certificate.inline.private_key_pem"
	if _, err := sealField(ring, key, path, sealedPrefix+"x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a plaintext that looks sealed = %v, want ErrInvalid", err)
	}
	if _, err := sealField(nil, key, path, "k"); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("no keyring = %v", err)
	}
	stored, err := sealField(ring, key, path, "k")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key, path, stored string
		want                    error
	}{
		{"other record", "config/site/b", path, stored, seal.ErrAuth},
		{"other field", key, "x", stored, seal.ErrAuth},
		{"not base64", key, path, sealedPrefix + "!!", seal.ErrMalformed},
		{"empty sealed", key, path, sealedPrefix, seal.ErrMalformed},
	} {
		if _, _, err := openField(ring, tc.key, tc.path, tc.stored); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	pt, id, err := openField(ring, key, path, stored)
	if err != nil || pt != "k" || id != ring.Primary() {
		t.Fatalf("openField = %q, %q, %v", pt, id, err)
	}
	if pt, id, err := openField(nil, key, path, "plain"); err != nil || pt != "plain" || id != "" {
		t.Fatalf("plaintext = %q, %q, %v", pt, id, err)
	}
}
