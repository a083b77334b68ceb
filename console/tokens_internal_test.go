package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
)

// tokenAPI is fakeAPI with the token calls, made as a token of role.
type tokenAPI struct {
	*fakeAPI
	role             pb.Role
	created, revoked int
}

// allowed is the API's answer to a token call: admins only.
func (f *tokenAPI) allowed(ctx context.Context, method string) error {
	if err := authorised(ctx); err != nil {
		return err
	}
	if f.role != pb.Role_ROLE_ADMIN {
		return status.Errorf(codes.PermissionDenied, "role %s may not call %s", roleName(f.role), method)
	}
	return nil
}

func (f *tokenAPI) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest, _ ...grpc.CallOption) (*pb.Token, error) {
	return &pb.Token{Id: "me", Role: f.role}, authorised(ctx)
}

func (f *tokenAPI) ListTokens(ctx context.Context, _ *pb.ListTokensRequest, _ ...grpc.CallOption) (*pb.ListTokensResponse, error) {
	if err := f.allowed(ctx, "ListTokens"); err != nil {
		return nil, err
	}
	return &pb.ListTokensResponse{Tokens: []*pb.Token{{Id: "t1", Name: "ci", Role: pb.Role_ROLE_VIEWER}, {Id: "me", Name: "boss", Role: pb.Role_ROLE_ADMIN}}}, nil
}

func (f *tokenAPI) CreateToken(ctx context.Context, r *pb.CreateTokenRequest, _ ...grpc.CallOption) (*pb.CreateTokenResponse, error) {
	if err := f.allowed(ctx, "CreateToken"); err != nil {
		return nil, err
	}
	if r.GetRole() == pb.Role_ROLE_UNSPECIFIED {
		return nil, status.Error(codes.InvalidArgument, "role: must be admin, ca-manager, site-manager or viewer")
	}
	f.created++
	return &pb.CreateTokenResponse{Token: &pb.Token{Id: "t2", Name: r.GetName(), Role: r.GetRole()}, Secret: "the-secret-0123456789"}, nil
}

func (f *tokenAPI) RevokeToken(ctx context.Context, r *pb.RevokeTokenRequest, _ ...grpc.CallOption) (*pb.Token, error) {
	if err := f.allowed(ctx, "RevokeToken"); err != nil {
		return nil, err
	}
	f.revoked++
	return &pb.Token{Id: r.GetId()}, nil
}

// tokenTest is a console on a tokenAPI of role, signed in.
func tokenTest(t *testing.T, role pb.Role) (*Console, *tokenAPI, *http.Cookie) {
	t.Helper()
	api := &tokenAPI{fakeAPI: &fakeAPI{}, role: role}
	c, err := New(Options{API: api, Sealer: seal.MustGenerate(), Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return c, api, signedIn(t, c)
}

// formFor is a urlencoded form posting to action, with its CSRF token.
func formFor(t *testing.T, c *Console, ck *http.Cookie, action string, kv ...string) string {
	t.Helper()
	s, err := openSession(c.sealer, ck.Value, c.now(), time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{csrfField: {csrfToken(s, action)}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

func TestTokenSecretShownOnce(t *testing.T) {
	c, api, ck := tokenTest(t, pb.Role_ROLE_ADMIN)
	w := do(c, "POST", "/ui/tokens", formFor(t, c, ck, "/ui/tokens", "name", "ci", "role", "viewer"), ck)
	body := w.Body.String()
	if w.Code != http.StatusOK || api.created != 1 || !strings.Contains(body, "the-secret-0123456789") || !strings.Contains(body, "Copy the secret now") {
		t.Fatalf("create: %d, created %d", w.Code, api.created)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("secret page Cache-Control %q", cc)
	}
	if list := do(c, "GET", "/ui/tokens", "", ck).Body.String(); strings.Contains(list, "the-secret") || !strings.Contains(list, "(yours)") {
		t.Errorf("token list shows the secret or does not mark the session's token")
	}
	w = do(c, "POST", "/ui/tokens", formFor(t, c, ck, "/ui/tokens", "name", "x", "role", "root"), ck)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="role-error">role: must be`) {
		t.Errorf("bad role: %d", w.Code)
	}
}

func TestTokenRevokeNeedsItsOwnCSRF(t *testing.T) {
	c, api, ck := tokenTest(t, pb.Role_ROLE_ADMIN)
	if w := do(c, "GET", "/ui/tokens/me/revoke", "", ck); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "revoke-self") {
		t.Errorf("confirming the session's own token: %d, no warning", w.Code)
	}
	for name, body := range map[string]string{
		"none":          "x=1",
		"another form":  formFor(t, c, ck, "/ui/tokens"),
		"another token": formFor(t, c, ck, "/ui/tokens/me/revoke"),
	} {
		if w := do(c, "POST", "/ui/tokens/t1/revoke", body, ck); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
	if w := do(c, "GET", "/ui/tokens/t1/revoke", "", ck); w.Code != http.StatusOK || api.revoked != 0 {
		t.Fatalf("the confirmation page: %d, revoked %d", w.Code, api.revoked)
	}
	w := do(c, "POST", "/ui/tokens/t1/revoke", formFor(t, c, ck, "/ui/tokens/t1/revoke"), ck)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/tokens?revoked=t1" || api.revoked != 1 {
		t.Errorf("revoke: %d %s, revoked %d", w.Code, w.Header().Get("Location"), api.revoked)
	}
}

func TestTokensRefusedToViewer(t *testing.T) {
	c, api, ck := tokenTest(t, pb.Role_ROLE_VIEWER)
	w := do(c, "GET", "/ui/tokens", "", ck)
	if body := w.Body.String(); w.Code != http.StatusForbidden || !strings.Contains(body, "role viewer may not call ListTokens") ||
		strings.Contains(body, "token-create") || strings.Contains(body, `href="/ui/tokens"`) {
		t.Errorf("viewer's token page: %d", w.Code)
	}
	w = do(c, "POST", "/ui/tokens", formFor(t, c, ck, "/ui/tokens", "name", "mine", "role", "admin"), ck)
	if w.Code != http.StatusForbidden || api.created != 0 || !strings.Contains(w.Body.String(), "role viewer may not call CreateToken") {
		t.Errorf("viewer's create: %d, created %d", w.Code, api.created)
	}
}
