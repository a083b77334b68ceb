package cli

import (
	"context"
	"flag"
	"fmt"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// caAdd is "ca add --name NAME FILE [--site HOST ...]".
func caAdd(fs *flag.FlagSet) action {
	name := fs.String("name", "", "CA name")
	var sites, urls stringList
	fs.Var(&sites, "site", "site to assign the CA to (repeatable)")
	fs.Var(&urls, "crl-url", "CRL distribution point to fetch for the CA (repeatable)")
	ocspURL := fs.String("ocsp-url", "", "OCSP responder for the certificates the CA issues (default: theirs)")
	nonce := fs.Bool("ocsp-nonce", false, "send nonces to the OCSP responder and require them back")
	return func(ctx context.Context, s *session, args []string) error {
		if *name == "" {
			return usagef("--name is required")
		}
		bundle, err := s.load(args[0])
		if err != nil {
			return err
		}
		if len(bundle) == 0 {
			return fmt.Errorf("%s is empty", args[0])
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		ca, err := c.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: *name, Bundle: bundle, Sites: sites,
			CrlUrls: urls, OcspUrl: *ocspURL, OcspNonce: *nonce})
		if err != nil {
			return err
		}
		return s.printFields(ca, caFields(ca, s.now()))
	}
}

// caSet is "ca set ID [--name NAME] [--crl-url URL ... | --no-crl-urls]
// [--ocsp-url URL | --no-ocsp-url] [--ocsp-nonce=BOOL]".
func caSet(fs *flag.FlagSet) action {
	name := fs.String("name", "", "new name")
	noURLs := fs.Bool("no-crl-urls", false, "remove every CRL URL")
	var urls stringList
	fs.Var(&urls, "crl-url", "CRL distribution point to fetch for the CA (repeatable; replaces the list)")
	ocspURL := fs.String("ocsp-url", "", "OCSP responder for the certificates the CA issues")
	noOCSP := fs.Bool("no-ocsp-url", false, "use the responders the certificates name")
	var nonce optBool
	fs.Var(&nonce, "ocsp-nonce", "send nonces to the OCSP responder and require them back (true|false)")
	return func(ctx context.Context, s *session, args []string) error {
		req := &pb.UpdateClientCARequest{Id: args[0], Name: *name, CrlUrls: urls, OcspUrl: *ocspURL, OcspNonce: nonce.v}
		if *name != "" {
			req.UpdateMask = append(req.UpdateMask, "name")
		}
		switch {
		case *noURLs && len(urls) > 0:
			return usagef("--crl-url and --no-crl-urls exclude each other")
		case *noURLs || len(urls) > 0:
			req.UpdateMask = append(req.UpdateMask, "crl_urls")
		}
		switch {
		case *noOCSP && *ocspURL != "":
			return usagef("--ocsp-url and --no-ocsp-url exclude each other")
		case *noOCSP || *ocspURL != "":
			req.UpdateMask = append(req.UpdateMask, "ocsp_url")
		}
		if nonce.set {
			req.UpdateMask = append(req.UpdateMask, "ocsp_nonce")
		}
		if len(req.UpdateMask) == 0 {
			return usagef("nothing to change: give --name, --crl-url, --no-crl-urls, --ocsp-url, --no-ocsp-url or --ocsp-nonce")
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		ca, err := c.UpdateClientCA(ctx, req)
		if err != nil {
			return err
		}
		return s.printFields(ca, caFields(ca, s.now()))
	}
}

// caList is "ca list".
func caList(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListClientCAs(ctx, &pb.ListClientCAsRequest{})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, caListTable))
	}
}

// caShow is "ca show ID".
func caShow(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		ca, err := c.GetClientCA(ctx, &pb.GetClientCARequest{Id: args[0]})
		if err != nil {
			return err
		}
		return s.printFields(ca, caFields(ca, s.now()))
	}
}

// caRm is "ca rm ID [--force]".
func caRm(fs *flag.FlagSet) action {
	force := fs.Bool("force", false, "delete even when assigned")
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.DeleteClientCA(ctx, &pb.DeleteClientCARequest{Id: args[0], Force: *force})
		if err != nil {
			return err
		}
		return s.printDone(resp, args[0], "Deleted client CA "+args[0]+".")
	}
}

// caAssign is "ca assign ID HOST..." or, with assign false, "ca unassign".
func caAssign(assign bool) func(*flag.FlagSet) action {
	return func(*flag.FlagSet) action {
		return func(ctx context.Context, s *session, args []string) error {
			c, err := s.api()
			if err != nil {
				return err
			}
			req := &pb.AssignClientCARequest{Id: args[0], Sites: args[1:]}
			call := c.AssignClientCA
			if !assign {
				call = c.UnassignClientCA
			}
			ca, err := call(ctx, req)
			if err != nil {
				return err
			}
			return s.printFields(ca, caFields(ca, s.now()))
		}
	}
}
