package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// buildCreateToken checks and builds a token create request: --site is
// required for site-manager and refused for every other role.
func buildCreateToken(role, name string, sites []string) (*pb.CreateTokenRequest, error) {
	if role == "" {
		return nil, usagef("--role is required: want %s", choices[pb.Role]())
	}
	r, ok := parseEnum[pb.Role](role)
	switch {
	case !ok:
		return nil, usagef("bad value %q for --role: want %s", role, choices[pb.Role]())
	case r == pb.Role_ROLE_SITE_MANAGER && len(sites) == 0:
		return nil, usagef("role site-manager needs at least one --site HOST")
	case r != pb.Role_ROLE_SITE_MANAGER && len(sites) > 0:
		return nil, usagef("--site is only for role site-manager")
	}
	return &pb.CreateTokenRequest{Name: name, Role: r, Sites: sites}, nil
}

// tokenCreate is "token create --role ROLE [--name NAME] [--site HOST ...]
// [--secret-file FILE]". The secret is printed (table and JSON), unless
// --secret-file names a new file to write it to; -o id prints the new
// token's id, never its secret.
func tokenCreate(fs *flag.FlagSet) action {
	role := fs.String("role", "", "token role")
	name := fs.String("name", "", "token name")
	secretFile := fs.String("secret-file", "", "write the secret to this new file (mode 0600) instead of printing it; "+
		"--token-file reads it")
	var sites stringList
	fs.Var(&sites, "site", "site a site-manager token may touch (repeatable)")
	return func(ctx context.Context, s *session, _ []string) error {
		req, err := buildCreateToken(*role, *name, sites)
		if err != nil {
			return err
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		if *secretFile == "" {
			resp, err := c.CreateToken(ctx, req)
			if err != nil {
				return err
			}
			return s.print(resp, tableOf(resp, createdTokenText))
		}
		return createTokenToFile(ctx, s, c, req, *secretFile)
	}
}

// createTokenToFile creates a token and writes its secret to path, a file
// created for it (an existing file is never overwritten: it could be
// another token). The file is made before the token, so a token is never
// left without its secret; should the write fail, the token is revoked.
func createTokenToFile(ctx context.Context, s *session, c pb.CertificateManagerServiceClient, req *pb.CreateTokenRequest, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--secret-file: %w", err)
	}
	resp, err := c.CreateToken(ctx, req)
	if err == nil {
		_, err = fmt.Fprintln(f, resp.GetSecret())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			err = revokeUnwritten(ctx, c, resp.GetToken().GetId(), fmt.Errorf("--secret-file: %w", err))
		}
	} else {
		f.Close()
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	resp.Secret = ""
	return s.print(resp, tableOf(resp, func(w io.Writer, r *pb.CreateTokenResponse) error {
		return writtenTokenText(w, r, path)
	}))
}

// revokeUnwritten revokes a token whose secret could not be kept and
// returns err saying so.
func revokeUnwritten(ctx context.Context, c pb.CertificateManagerServiceClient, id string, err error) error {
	if _, rerr := c.RevokeToken(ctx, &pb.RevokeTokenRequest{Id: id}); rerr != nil {
		return fmt.Errorf("%w (and revoking the token %s just created failed: %v; revoke it with mtlsgate token revoke %s)", err, id, rerr, id)
	}
	return fmt.Errorf("%w (the token %s just created was revoked)", err, id)
}

// tokenList is "token list".
func tokenList(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListTokens(ctx, &pb.ListTokensRequest{})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, tokenListTable))
	}
}

// tokenRevoke is "token revoke ID".
func tokenRevoke(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		tok, err := c.RevokeToken(ctx, &pb.RevokeTokenRequest{Id: args[0]})
		if err != nil {
			return err
		}
		return s.printFields(tok, tokenFields(tok))
	}
}
