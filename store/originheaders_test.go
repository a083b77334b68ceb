package store_test

import (
	"context"
	"errors"
	"maps"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

func TestSubjectOID(t *testing.T) {
	for key, want := range map[string]string{ // "" : refused
		"subject_oid.2.5.4.5":                   "2.5.4.5",
		"subject_oid.0.9.2342.19200300.100.1.1": "0.9.2342.19200300.100.1.1",
		"subject_oid.1.39":                      "1.39",
		"subject_oid.2.2147483647":              "2.2147483647",
		"subject_oid.2.999":                     "2.999",
		"subject_oid.":                          "",
		"subject_oid.2":                         "",
		"subject_oid.1.40":                      "",
		"subject_oid.3.1":                       "",
		"subject_oid.2.05":                      "",
		"subject_oid.2.5.":                      "",
		"subject_oid..2.5":                      "",
		"subject_oid.2.+5":                      "",
		"subject_oid.2.2147483648":              "",
		"subject_oid.2.5 ":                      "",
		"subject_oid.2.٥":                       "",
	} {
		oid, ok, err := store.SubjectOID(key)
		if !ok || (err == nil) != (want != "") || err == nil && oid.String() != want {
			t.Errorf("SubjectOID(%q) = %v, %v, %v; want %q", key, oid, ok, err, want)
		}
	}
	if _, ok, _ := store.SubjectOID("subject_cn"); ok {
		t.Error("subject_cn taken for an OID key")
	}
}

// TestOptInHeadersStored: the store keeps the opt-in fields a site names,
// drops those named "" (off), and refuses bad ones naming the key.
func TestOptInHeadersStored(t *testing.T) {
	f := newFixture(t, store.Limits{})
	ctx := context.Background()
	in := &pb.ClientCertSettings{Headers: map[string]string{"subject_cn": "x-cn", "days_left": "", "subject_oid.2.5.4.5": "x-sn",
		"subject_oid.2.5.4.6": ""}}
	got, err := f.s.UpdateSettings(ctx, admin, "app.example.com", in, []string{"headers"})
	if err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(store.DefaultHeaders)
	want["subject_cn"], want["subject_oid.2.5.4.5"] = "x-cn", "x-sn"
	if !maps.Equal(got.GetHeaders(), want) {
		t.Fatalf("stored headers %v, want %v", got.GetHeaders(), want)
	}
	in.Headers = map[string]string{"subject_oid.2.5.4.5": "Host"}
	_, err = f.s.UpdateSettings(ctx, admin, "app.example.com", in, []string{"headers"})
	var ve *store.ValidationError
	if !errors.As(err, &ve) || ve.Field != `headers["subject_oid.2.5.4.5"]` || !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
}
