package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// crlAdd is "crl add FILE".
func crlAdd(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		der, err := s.load(args[0])
		if err != nil {
			return err
		}
		if len(der) == 0 {
			return fmt.Errorf("%s is empty", args[0])
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		crl, err := c.CreateCRL(ctx, &pb.CreateCRLRequest{Crl: der})
		if err != nil {
			return err
		}
		return s.printFields(crl, crlFields(crl, s.now()))
	}
}

// crlList is "crl list".
// crlSources is "crl sources".
func crlSources(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListCRLSources(ctx, &pb.ListCRLSourcesRequest{})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, crlSourcesTable))
	}
}

func crlList(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListCRLs(ctx, &pb.ListCRLsRequest{})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, func(w io.Writer, r *pb.ListCRLsResponse) error {
			return crlListTable(w, r, s.now())
		}))
	}
}

// crlShow is "crl show ID"; the DER is not fetched.
func crlShow(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		crl, err := c.GetCRL(ctx, &pb.GetCRLRequest{Id: args[0]})
		if err != nil {
			return err
		}
		return s.printFields(crl, crlFields(crl, s.now()))
	}
}

// crlRm is "crl rm ID".
func crlRm(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.DeleteCRL(ctx, &pb.DeleteCRLRequest{Id: args[0]})
		if err != nil {
			return err
		}
		return s.printDone(resp, "Deleted CRL "+args[0]+".")
	}
}

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

// tokenCreate is "token create --role ROLE [--name NAME] [--site HOST ...]".
func tokenCreate(fs *flag.FlagSet) action {
	role := fs.String("role", "", "token role")
	name := fs.String("name", "", "token name")
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
		resp, err := c.CreateToken(ctx, req)
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, createdTokenText))
	}
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

// buildAuditRequest checks and builds an audit request.
func buildAuditRequest(limit int, actor, before string) (*pb.ListAuditEventsRequest, error) {
	if limit < 0 || limit > 1000 {
		return nil, usagef("bad value %d for --limit: want 1 to 1000", limit)
	}
	return &pb.ListAuditEventsRequest{Limit: int32(limit), Actor: actor, Before: before}, nil
}

// audit is "audit [--limit N] [--actor ID] [--before ID]".
func audit(fs *flag.FlagSet) action {
	limit := fs.Int("limit", 0, "at most this many events (server default 100)")
	actor := fs.String("actor", "", "only events by this token id")
	before := fs.String("before", "", "only events older than this event id")
	return func(ctx context.Context, s *session, _ []string) error {
		req, err := buildAuditRequest(*limit, *actor, *before)
		if err != nil {
			return err
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListAuditEvents(ctx, req)
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, auditTable))
	}
}
