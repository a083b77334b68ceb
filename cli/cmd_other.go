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

// auditFilters are audit's filter flags, passed to ListAuditEvents as
// they are: the server checks them and says which is wrong.
type auditFilters struct {
	actor, action, object, result string
}

// buildAuditRequest checks and builds an audit request.
func buildAuditRequest(limit int, before string, f auditFilters) (*pb.ListAuditEventsRequest, error) {
	if limit < 0 || limit > 1000 {
		return nil, usagef("bad value %d for --limit: want 1 to 1000", limit)
	}
	return &pb.ListAuditEventsRequest{Limit: int32(limit), Before: before,
		Actor: f.actor, Action: f.action, Object: f.object, Result: f.result}, nil
}

// audit is "audit [--limit N] [--before ID] [--actor ID] [--action METHOD]
// [--object TEXT] [--result RESULT]".
func audit(fs *flag.FlagSet) action {
	limit := fs.Int("limit", 0, "at most this many events (server default 100)")
	before := fs.String("before", "", "only events older than this event id (a previous next_before)")
	var f auditFilters
	fs.StringVar(&f.actor, "actor", "", "only events by this token id")
	fs.StringVar(&f.action, "action", "", "only events of this API method, any case (e.g. CreateSite)")
	fs.StringVar(&f.object, "object", "", "only events whose object contains this text (e.g. site/ or a CA id)")
	fs.StringVar(&f.result, "result", "", "only events with this result: ok, failed (any but ok) or a code such as permission_denied")
	return func(ctx context.Context, s *session, _ []string) error {
		req, err := buildAuditRequest(*limit, *before, f)
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
