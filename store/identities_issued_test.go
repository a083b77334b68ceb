package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestIdentityWithIssuedCertificates: an identity holding live issued
// certificates cannot be deleted (a new identity of its name would
// inherit them) until they are revoked or expired; an issued certificate
// binds only to the identity its SAN names.
func TestIdentityWithIssuedCertificates(t *testing.T) {
	f := newIssuingStore(t, store.DefaultLimits())
	ctx := t.Context()
	c, err := f.issue(t, store.IssueRequest{Identity: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	err = f.s.DeleteIdentity(ctx, admin, "alice")
	if !errors.Is(err, store.ErrFailedPrecondition) || !strings.Contains(err.Error(), c.GetSerial()) {
		t.Fatalf("delete with a live certificate: %v", err)
	}
	if _, err := f.s.CreateIdentity(ctx, admin, &pb.Identity{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.BindCertificate(ctx, admin, "bob", []byte(c.GetCertificatePem()), "")
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `"alice"`) {
		t.Fatalf("alice's issued certificate bound to bob: %v", err)
	}
	if _, err := f.s.BindCertificate(ctx, admin, "alice", []byte(c.GetCertificatePem()), ""); err != nil {
		t.Fatalf("alice's issued certificate bound to alice: %v", err)
	}
	// A revocation publishes a CRL (the CA record's number moves) but
	// leaves identities as they were: consumers keep what they built.
	tag := f.s.Current().IdentityTag()
	if _, err := f.s.RevokeClientCertificate(ctx, admin, c.GetSerial(), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if f.s.Current().IdentityTag() != tag {
		t.Error("revoking an issued certificate moved the identity tag")
	}
	if err := f.s.DeleteIdentity(ctx, admin, "alice"); err != nil {
		t.Fatalf("delete once revoked: %v", err)
	}
}
