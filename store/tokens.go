package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// A bearer token reads "mtg.<id>.<secret>": the id finds the stored token,
// the secret (32 random bytes, base64url) is compared with its SHA-256.
// Secrets are high-entropy, so a fast hash is the right one.
const tokenScheme = "mtg"

// ErrUnauthenticated means a bearer token is missing, malformed, unknown
// or revoked. Callers should not say which.
var ErrUnauthenticated = errors.New("invalid or revoked token")

// CreateToken creates a token and returns it with its secret, which is not
// stored and cannot be shown again.
func (s *Store) CreateToken(ctx context.Context, a Actor, name string, role pb.Role, sites []string) (*pb.Token, string, error) {
	if name == "" {
		name = strings.ToLower(strings.TrimPrefix(role.String(), "ROLE_"))
	}
	if err := checkName("name", name); err != nil {
		return nil, "", err
	}
	if role <= pb.Role_ROLE_UNSPECIFIED || role > pb.Role_ROLE_VIEWER {
		return nil, "", invalid("role", "must be admin, ca-manager, site-manager or viewer")
	}
	sites = uniqueSorted(sites)
	if role == pb.Role_ROLE_SITE_MANAGER && len(sites) == 0 {
		return nil, "", invalid("sites", "a site-manager token needs at least one site")
	}
	if role != pb.Role_ROLE_SITE_MANAGER && len(sites) > 0 {
		return nil, "", invalid("sites", "only site-manager tokens are scoped to sites")
	}
	secret, tok := s.newToken(a, name, role, sites)
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		for _, h := range sites {
			if st.Site(h) == nil {
				return nil, notFound("site", h)
			}
		}
		return s.withAudit(a, TokenRef(tok.Id), nil, tokenPrefix+tok.Id, tok)
	})
	if err != nil {
		return nil, "", err
	}
	return tok, secret, nil
}

func (s *Store) newToken(a Actor, name string, role pb.Role, sites []string) (string, *pb.Token) {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	sum := sha256.Sum256(raw[:])
	tok := &pb.Token{
		Id:           newID(),
		Name:         name,
		Role:         role,
		Sites:        sites,
		SecretSha256: sum[:],
		CreatedBy:    a.TokenID,
		CreatedAt:    timestamppb.New(s.now()),
	}
	secret := tokenScheme + "." + tok.Id + "." + base64.RawURLEncoding.EncodeToString(raw[:])
	return secret, tok
}

// Bootstrap creates the first admin token when the store has no token at
// all, and returns its secret; created is false when tokens exist.
func (s *Store) Bootstrap(ctx context.Context) (secret string, created bool, err error) {
	a := Actor{TokenID: "system", Action: "Bootstrap"}
	secret, tok := s.newToken(a, "bootstrap-admin", pb.Role_ROLE_ADMIN, nil)
	_, err = s.commit(ctx, func(st *State) ([]Op, error) {
		if len(st.tokens) > 0 {
			return nil, ErrAlreadyExists
		}
		return s.withAudit(a, TokenRef(tok.Id), nil, tokenPrefix+tok.Id, tok)
	})
	if errors.Is(err, ErrAlreadyExists) {
		return "", false, nil
	}
	return secret, err == nil, err
}

// RevokeToken revokes a token. Revoking the last active admin token is
// refused, so the account cannot lock itself out.
func (s *Store) RevokeToken(ctx context.Context, a Actor, id string) (*pb.Token, error) {
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		cur := st.Token(id)
		if cur == nil {
			return nil, notFound("token", id)
		}
		if cur.GetRevokedAt() != nil {
			return nil, fmt.Errorf("%w: token %s is already revoked", ErrFailedPrecondition, id)
		}
		if cur.GetRole() == pb.Role_ROLE_ADMIN && activeAdmins(st) == 1 {
			return nil, fmt.Errorf("%w: token %s is the last active admin token; create another admin token first", ErrFailedPrecondition, id)
		}
		tok := proto.Clone(cur).(*pb.Token)
		tok.RevokedAt = timestamppb.New(s.now())
		return s.withAudit(a, TokenRef(id), nil, tokenPrefix+id, tok)
	})
	if err != nil {
		return nil, err
	}
	return st.Token(id), nil
}

func activeAdmins(st *State) int {
	n := 0
	for _, t := range st.tokens {
		if t.GetRole() == pb.Role_ROLE_ADMIN && t.GetRevokedAt() == nil {
			n++
		}
	}
	return n
}

// Authenticate returns the active token a bearer secret belongs to.
func (st *State) Authenticate(bearer string) (*pb.Token, error) {
	scheme, rest, ok := strings.Cut(bearer, ".")
	id, secret, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || scheme != tokenScheme {
		return nil, ErrUnauthenticated
	}
	tok := st.Token(id)
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if tok == nil || err != nil || tok.GetRevokedAt() != nil {
		return nil, ErrUnauthenticated
	}
	sum := sha256.Sum256(raw)
	if subtle.ConstantTimeCompare(sum[:], tok.GetSecretSha256()) != 1 {
		return nil, ErrUnauthenticated
	}
	return tok, nil
}
