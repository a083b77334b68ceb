package store_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestIdentities: create (enabled by default) with names checked, update
// by mask, delete; on both backends.
func TestIdentities(t *testing.T) {
	denyBackends(t, store.DefaultLimits(), func(t *testing.T, s *store.Store, _ *testpki.Cert, _ *time.Time) {
		ctx := t.Context()
		alice, err := s.CreateIdentity(ctx, admin, &pb.Identity{Name: "alice@example.com", Comment: "Alice"})
		if err != nil {
			t.Fatal(err)
		}
		if !alice.GetEnabled() || alice.GetCreatedBy() != admin.TokenID || alice.GetComment() != "Alice" {
			t.Fatalf("created %v", alice)
		}
		off, err := s.CreateIdentity(ctx, admin, &pb.Identity{Name: "kiosk-7", Enabled: proto.Bool(false)})
		if err != nil || off.GetEnabled() {
			t.Fatalf("created disabled: %v %v", off, err)
		}
		for name, in := range map[string]*pb.Identity{
			"duplicate":   {Name: "alice@example.com"},
			"empty":       {Name: ""},
			"leading dot": {Name: ".alice"},
			"space":       {Name: "alice smith"},
			"slash":       {Name: "a/b"},
			"long":        {Name: strings.Repeat("a", 129)},
			"comment":     {Name: "bob", Comment: strings.Repeat("x", 1025)},
			"escape":      {Name: "bob", Comment: "\x1b[2Jgone"},
			"certs":       {Name: "bob", Certificates: []*pb.BoundCertificate{{}}},
		} {
			if _, err := s.CreateIdentity(ctx, admin, in); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		if _, err := s.CreateIdentity(ctx, admin, &pb.Identity{Name: "alice@example.com"}); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("duplicate: %v", err)
		}
		if n := len(s.Current().Identities()); n != 2 {
			t.Fatalf("%d identities after refusals", n)
		}
		got, err := s.UpdateIdentity(ctx, admin, &pb.Identity{Name: "alice@example.com", Enabled: proto.Bool(false), Comment: "ignored"}, []string{"enabled"})
		if err != nil || got.GetEnabled() || got.GetComment() != "Alice" {
			t.Fatalf("update enabled: %v %v", got, err)
		}
		for name, mask := range map[string][]string{"none": nil, "name": {"name"}, "certificates": {"certificates"}} {
			if _, err := s.UpdateIdentity(ctx, admin, &pb.Identity{Name: "alice@example.com"}, mask); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("mask %s: %v", name, err)
			}
		}
		if _, err := s.UpdateIdentity(ctx, admin, &pb.Identity{Name: "nobody"}, []string{"comment"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of nobody: %v", err)
		}
		if err := s.DeleteIdentity(ctx, admin, "kiosk-7"); err != nil {
			t.Fatal(err)
		}
		if s.Current().Identity("kiosk-7") != nil {
			t.Error("deleted identity still there")
		}
		if err := s.DeleteIdentity(ctx, admin, "kiosk-7"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})
}

// TestBindCertificate: PEM, DER and PKCS#12 (the certificate matching its
// key) bind; self-signed ones are marked; a certificate binds to one
// identity; the per-identity limit; what no site could accept is refused;
// unbind.
func TestBindCertificate(t *testing.T) {
	l := store.DefaultLimits()
	l.MaxCertsPerIdentity = 3
	l.MaxSelfSignedCerts = 1
	denyBackends(t, l, func(t *testing.T, s *store.Store, root *testpki.Cert, _ *time.Time) {
		ctx := t.Context()
		for _, n := range []string{"alice", "bob"} {
			if _, err := s.CreateIdentity(ctx, admin, &pb.Identity{Name: n}); err != nil {
				t.Fatal(err)
			}
		}
		self := testpki.SelfSigned(t, "alice laptop", testpki.Options{})
		issued := root.Leaf(t, "alice desktop", testpki.Options{})
		phone := root.Leaf(t, "alice phone", testpki.Options{})
		p12, err := pkcs12.Modern.Encode(phone.Key, phone.Cert, []*x509.Certificate{root.Cert}, "s3cret")
		if err != nil {
			t.Fatal(err)
		}
		bind := func(data []byte, pw string) (*pb.Identity, error) {
			return s.BindCertificate(ctx, admin, "alice", data, pw)
		}
		for _, in := range []struct {
			data []byte
			pw   string
		}{{self.PEM(), ""}, {issued.Cert.Raw, ""}, {p12, "s3cret"}} {
			if _, err := bind(in.data, in.pw); err != nil {
				t.Fatal(err)
			}
		}
		alice := s.Current().Identity("alice")
		want := map[string]bool{pki.Fingerprint(self.Cert.Raw): true, pki.Fingerprint(issued.Cert.Raw): false, pki.Fingerprint(phone.Cert.Raw): false}
		for _, b := range alice.GetCertificates() {
			self, ok := want[b.GetSha256Fingerprint()]
			if !ok || b.GetSelfSigned() != self || b.GetBoundBy() != admin.TokenID || b.GetSpkiSha256() == "" {
				t.Errorf("bound %s self_signed %v (want %v, known %v)", b.GetInfo().GetSubject(), b.GetSelfSigned(), self, ok)
			}
			delete(want, b.GetSha256Fingerprint())
		}
		if len(want) != 0 {
			t.Errorf("not bound: %v", want)
		}
		before := s.Current().Rev
		for name, in := range map[string]struct {
			who  string
			data []byte
			pw   string
			is   error
		}{
			"limit":             {"alice", root.Leaf(t, "fourth", testpki.Options{}).PEM(), "", store.ErrLimit},
			"self-signed limit": {"bob", testpki.SelfSigned(t, "bob laptop", testpki.Options{}).PEM(), "", store.ErrLimit},
			"bound elsewhere":   {"bob", self.PEM(), "", store.ErrAlreadyExists},
			"no such identity":  {"carol", root.Leaf(t, "c", testpki.Options{}).PEM(), "", store.ErrNotFound},
			"CA":                {"bob", root.PEM(), "", store.ErrInvalid},
			"self-signed noEKU": {"bob", testpki.SelfSigned(t, "x", testpki.Options{NoEKU: true}).PEM(), "", store.ErrInvalid},
			"two certificates":  {"bob", testpki.Bundle(issued, phone), "", store.ErrInvalid},
			"wrong password":    {"bob", p12, "guess", pki.ErrPKCS12Password},
			"garbage":           {"bob", []byte("0\x82hello"), "", store.ErrInvalid},
			"key":               {"bob", issued.KeyPEM(), "", store.ErrInvalid},
		} {
			if _, err := s.BindCertificate(ctx, admin, in.who, in.data, in.pw); !errors.Is(err, in.is) {
				t.Errorf("%s: %v, want %v", name, err, in.is)
			}
		}
		if s.Current().Rev != before {
			t.Error("a refused binding wrote")
		}
		if s.Current().BoundTo(pki.Fingerprint(issued.Cert.Raw)) != "alice" {
			t.Error("BoundTo does not find the DER certificate")
		}
		got, err := s.UnbindCertificate(ctx, admin, "alice", strings.ToUpper(pki.Fingerprint(issued.Cert.Raw)))
		if err != nil || len(got.GetCertificates()) != 2 {
			t.Fatalf("unbind: %v %v", got, err)
		}
		if _, err := s.UnbindCertificate(ctx, admin, "alice", pki.Fingerprint(issued.Cert.Raw)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second unbind: %v", err)
		}
	})
}

// TestBindRefusesCostlyPKCS12: a PKCS#12 file whose visible iteration
// count is above the bound is refused before any key derivation.
func TestBindRefusesCostlyPKCS12(t *testing.T) {
	denyBackends(t, store.DefaultLimits(), func(t *testing.T, s *store.Store, root *testpki.Cert, _ *time.Time) {
		if _, err := s.CreateIdentity(t.Context(), admin, &pb.Identity{Name: "alice"}); err != nil {
			t.Fatal(err)
		}
		c := root.Leaf(t, "alice", testpki.Options{})
		p12, err := pkcs12.Modern.WithIterations(1<<16).Encode(c.Key, c.Cert, nil, "pw")
		if err != nil {
			t.Fatal(err)
		}
		// 65536 is INTEGER 01 00 00; make every such count 8,388,607.
		costly := bytes.ReplaceAll(p12, []byte{0x02, 0x03, 0x01, 0x00, 0x00}, []byte{0x02, 0x03, 0x7f, 0xff, 0xff})
		if bytes.Equal(costly, p12) {
			t.Fatal("no iteration count found to patch")
		}
		_, err = s.BindCertificate(t.Context(), admin, "alice", costly, "pw")
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "iteration count") {
			t.Fatalf("costly PKCS#12: %v", err)
		}
		if _, err := s.BindCertificate(t.Context(), admin, "alice", p12, "pw"); err != nil {
			t.Fatalf("the same file with its own count: %v", err)
		}
	})
}

// TestIdentitySettings: a site's admission defaults to CA_ONLY, admitted
// names are sorted and deduplicated, and every bad field is refused by
// name; the account's mapping is validated the same way.
func TestIdentitySettings(t *testing.T) {
	set := &pb.ClientCertSettings{AdmittedIdentities: []string{"bob", "alice", "bob"}}
	if err := store.NormalizeSettings(set, store.DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	if set.GetIdentityAdmission() != pb.IdentityAdmission_IDENTITY_ADMISSION_CA_ONLY || strings.Join(set.GetAdmittedIdentities(), ",") != "alice,bob" {
		t.Errorf("normalized: %v %v", set.GetIdentityAdmission(), set.GetAdmittedIdentities())
	}
	attr := pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_ATTRIBUTE
	for _, c := range []struct {
		name, field string
		set         *pb.ClientCertSettings
	}{
		{"unknown admission", "identity_admission", &pb.ClientCertSettings{IdentityAdmission: 9}},
		{"empty admitted name", "admitted_identities[0]", &pb.ClientCertSettings{AdmittedIdentities: []string{""}}},
		{"control character", "admitted_identities[1]", &pb.ClientCertSettings{AdmittedIdentities: []string{"a", "b\nc"}}},
		{"long name", "admitted_identities[0]", &pb.ClientCertSettings{AdmittedIdentities: []string{strings.Repeat("n", 257)}}},
		{"too many", "admitted_identities", &pb.ClientCertSettings{AdmittedIdentities: make([]string, 1001)}},
		{"mapping without source", "identity_mapping.source", &pb.ClientCertSettings{IdentityMapping: &pb.IdentityMapping{}}},
		{"attribute without oid", "identity_mapping.oid", &pb.ClientCertSettings{IdentityMapping: &pb.IdentityMapping{Source: attr}}},
		{"oid without attribute", "identity_mapping.oid", &pb.ClientCertSettings{IdentityMapping: &pb.IdentityMapping{
			Source: pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_CN, Oid: "2.5.4.3"}}},
		{"bad oid", "identity_mapping.oid", &pb.ClientCertSettings{IdentityMapping: &pb.IdentityMapping{Source: attr, Oid: "2.05.4"}}},
		{"prefix with none", "identity_mapping.trim_prefix", &pb.ClientCertSettings{IdentityMapping: &pb.IdentityMapping{
			Source: pb.IdentitySource_IDENTITY_SOURCE_NONE, TrimPrefix: "x"}}},
		{"prefix control", "identity_mapping.trim_prefix", &pb.ClientCertSettings{IdentityMapping: &pb.IdentityMapping{
			Source: pb.IdentitySource_IDENTITY_SOURCE_SAN_URI, TrimPrefix: "a\x00"}}},
	} {
		err := store.NormalizeSettings(c.set, store.DefaultLimits())
		if !errors.Is(err, store.ErrInvalid) || !strings.HasPrefix(err.Error(), c.field+":") {
			t.Errorf("%s: %v, want a refusal of %s", c.name, err, c.field)
		}
	}
	denyBackends(t, store.DefaultLimits(), func(t *testing.T, s *store.Store, _ *testpki.Cert, _ *time.Time) {
		ctx := t.Context()
		m := &pb.IdentityMapping{Source: attr, Oid: "2.5.4.45"}
		got, err := s.UpdateAccountSettings(ctx, admin, &pb.AccountSettings{IdentityMapping: m}, []string{"identity_mapping"})
		if err != nil || !proto.Equal(got.GetIdentityMapping(), m) || got.GetUpdatedBy() != admin.TokenID {
			t.Fatalf("update: %v %v", got, err)
		}
		rev := s.Current().Rev
		for name, mask := range map[string][]string{"no mask": nil, "other field": {"updated_by"}} {
			if _, err := s.UpdateAccountSettings(ctx, admin, &pb.AccountSettings{}, mask); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s: %v", name, err)
			}
		}
		if _, err := s.UpdateAccountSettings(ctx, admin, &pb.AccountSettings{IdentityMapping: &pb.IdentityMapping{Source: attr}}, []string{"identity_mapping"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("attribute without oid: %v", err)
		}
		if s.Current().Rev != rev || !proto.Equal(s.Current().AccountSettings().GetIdentityMapping(), m) {
			t.Error("a refused update changed the account")
		}
	})
}
