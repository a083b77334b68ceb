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
		return s.printDone(resp, args[0], "Deleted CRL "+args[0]+".")
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
