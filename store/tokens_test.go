package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	secret, created, err := f.s.Bootstrap(ctx)
	if err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	if _, again, _ := f.s.Bootstrap(ctx); again {
		t.Fatal("second bootstrap created another admin token")
	}
	boot, err := f.s.Current().Authenticate(secret)
	if err != nil || boot.GetRole() != pb.Role_ROLE_ADMIN {
		t.Fatalf("bootstrap token does not authenticate: %v", err)
	}
	for _, bad := range []string{"", "mtg", "mtg.x.y", "Bearer " + secret, secret + "x", strings.Replace(secret, "mtg.", "abc.", 1)} {
		if _, err := f.s.Current().Authenticate(bad); !errors.Is(err, store.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v", bad, err)
		}
	}

	refused := []struct {
		role  pb.Role
		sites []string
		class error
	}{
		{pb.Role_ROLE_UNSPECIFIED, nil, store.ErrInvalid},
		{pb.Role(9), nil, store.ErrInvalid},
		{pb.Role_ROLE_SITE_MANAGER, nil, store.ErrInvalid},
		{pb.Role_ROLE_VIEWER, []string{"app.example.com"}, store.ErrInvalid},
		{pb.Role_ROLE_SITE_MANAGER, []string{"nope.example.com"}, store.ErrNotFound},
	}
	for _, tc := range refused {
		if _, _, err := f.s.CreateToken(ctx, admin, "", tc.role, tc.sites); !errors.Is(err, tc.class) {
			t.Errorf("CreateToken(%v, %v) = %v, want %v", tc.role, tc.sites, err, tc.class)
		}
	}

	tok, sec, err := f.s.CreateToken(ctx, admin, "", pb.Role_ROLE_SITE_MANAGER, []string{"app.example.com"})
	if err != nil || tok.GetName() != "site_manager" || string(tok.GetSecretSha256()) == sec {
		t.Fatalf("site-manager token: %v %v", tok, err)
	}
	if _, err := f.s.RevokeToken(ctx, admin, tok.GetId()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Current().Authenticate(sec); !errors.Is(err, store.ErrUnauthenticated) {
		t.Fatal("revoked token still authenticates")
	}
	if _, err := f.s.RevokeToken(ctx, admin, tok.GetId()); !errors.Is(err, store.ErrFailedPrecondition) {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := f.s.RevokeToken(ctx, admin, boot.GetId()); !errors.Is(err, store.ErrFailedPrecondition) {
		t.Fatalf("revoking the last admin: %v", err)
	}
}

func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	// The fixture made a site and a CA: two "ok" events, in the same
	// transactions as the writes.
	evs, next, err := f.s.ListAudit(ctx, store.AuditQuery{})
	if err != nil || len(evs) != 2 || next != "" {
		t.Fatalf("ListAudit: %d events, next %q, %v", len(evs), next, err)
	}
	if evs[0].GetObject() != "ca/"+f.ca.GetId() || evs[1].GetObject() != "site/app.example.com" || evs[0].GetResult() != "ok" {
		t.Fatalf("events not newest first or wrong: %v", evs)
	}
	other := store.Actor{TokenID: "other", Action: "DeleteSite"}
	if err := f.s.AppendAudit(ctx, f.s.NewAuditEvent(other, "site/x", "permission_denied", "no")); err != nil {
		t.Fatal(err)
	}
	page, next, err := f.s.ListAudit(ctx, store.AuditQuery{Limit: 2})
	if err != nil || len(page) != 2 || next == "" || page[0].GetActor() != "other" {
		t.Fatalf("first page: %v %q %v", page, next, err)
	}
	rest, _, err := f.s.ListAudit(ctx, store.AuditQuery{Limit: 2, Before: next})
	if err != nil || len(rest) != 1 || rest[0].GetObject() != "site/app.example.com" {
		t.Fatalf("second page: %v %v", rest, err)
	}
	mine, _, _ := f.s.ListAudit(ctx, store.AuditQuery{Actor: "other"})
	if len(mine) != 1 {
		t.Fatalf("actor filter: %d events", len(mine))
	}
	n, err := f.s.PruneAudit(ctx, time.Now().Add(time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("prune: %d, %v", n, err)
	}
}

func TestReopenKeepsEverythingAndPublishesChanges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ring := seal.MustGenerate()
	s, err := store.Open(ctx, openBackend(t, dir), store.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	before := s.Current()
	site, err := s.CreateSite(ctx, admin, siteFor(t, "app.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	next, err := s.Next(wctx, before)
	if err != nil || next.Site("app.example.com") == nil || next.Rev <= before.Rev {
		t.Fatalf("Next did not publish the new site: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(ctx, openBackend(t, dir), store.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Current().Site("app.example.com"); got == nil || got.GetServerCertificate().GetInline().GetPrivateKeyPem() != site.GetServerCertificate().GetInline().GetPrivateKeyPem() {
		t.Fatal("site lost across reopen")
	}
}
