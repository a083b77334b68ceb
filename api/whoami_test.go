package api_test

import (
	"context"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestWhoAmI: a token learns its own id, name, role and scope, never
// its secret; an unknown token learns nothing.
func TestWhoAmI(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	created, err := e.client(e.admin).CreateToken(ctx, &pb.CreateTokenRequest{Name: "pki-team", Role: pb.Role_ROLE_CA_MANAGER})
	if err != nil {
		t.Fatal(err)
	}
	me, err := e.client(created.GetSecret()).WhoAmI(ctx, &pb.WhoAmIRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if me.GetId() != created.GetToken().GetId() || me.GetRole() != pb.Role_ROLE_CA_MANAGER || me.GetName() != "pki-team" ||
		len(me.GetSites()) != 0 || len(me.GetSecretSha256()) != 0 {
		t.Fatalf("WhoAmI = %v", me)
	}
	if _, err := e.client("nosuchtoken").WhoAmI(ctx, &pb.WhoAmIRequest{}); err == nil {
		t.Fatal("an unknown token was answered")
	}
}
