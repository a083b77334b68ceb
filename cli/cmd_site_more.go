package cli

import (
	"context"
	"flag"
	"io"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// siteList is "site list".
func siteList(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListSites(ctx, &pb.ListSitesRequest{})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, siteListTable))
	}
}

// siteShow is "site show HOST".
func siteShow(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		site, err := c.GetSite(ctx, &pb.GetSiteRequest{Hostname: args[0]})
		if err != nil {
			return err
		}
		return s.printFields(site, siteFields(site, s.now()))
	}
}

// siteRm is "site rm HOST".
func siteRm(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.DeleteSite(ctx, &pb.DeleteSiteRequest{Hostname: args[0]})
		if err != nil {
			return err
		}
		return s.printDone(resp, args[0], "Deleted site "+args[0]+".")
	}
}

// siteAssign is "site assign HOST CA_ID..." or, with assign false, "site
// unassign".
func siteAssign(assign bool) func(*flag.FlagSet) action {
	return func(*flag.FlagSet) action {
		return func(ctx context.Context, s *session, args []string) error {
			c, err := s.api()
			if err != nil {
				return err
			}
			call := c.AssignSiteCAs
			if !assign {
				call = c.UnassignSiteCAs
			}
			site, err := call(ctx, &pb.SiteCAsRequest{Hostname: args[0], CaIds: args[1:]})
			if err != nil {
				return err
			}
			return s.printFields(site, siteFields(site, s.now()))
		}
	}
}

// siteSettings is "site settings HOST".
func siteSettings(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		settings, err := c.GetSiteSettings(ctx, &pb.GetSiteRequest{Hostname: args[0]})
		if err != nil {
			return err
		}
		return s.printSettings(args[0], settings)
	}
}

// siteSet is "site set HOST KEY=VALUE...". Every pair is checked before
// anything is sent. headers.* keys read the current header map first.
func siteSet(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		update, err := parseSettings(args[1:], s.load)
		if err != nil {
			return err
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		var current map[string]string
		if len(update.headers) > 0 {
			cur, err := c.GetSiteSettings(ctx, &pb.GetSiteRequest{Hostname: args[0]})
			if err != nil {
				return err
			}
			current = cur.GetHeaders()
		}
		settings, err := c.UpdateSiteSettings(ctx, update.request(args[0], current))
		if err != nil {
			return err
		}
		return s.printSettings(args[0], settings)
	}
}

// printSettings prints a site's client-certificate settings; -o id prints
// the site's hostname.
func (s *session) printSettings(host string, settings *pb.ClientCertSettings) error {
	return s.printNamed(settings, host, func(w io.Writer) error { return writeFields(w, settingsFields(settings)) })
}
