package cli

import (
	"context"
	"flag"
	"net/url"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// sitePutOptions are the flags of site put.
type sitePutOptions struct {
	host, cert, key, certPath, keyPath, origin, mode string
	// fleets are the fleets to place the site on (--fleet, repeatable);
	// everyFleet puts it back on every fleet.
	fleets     []string
	everyFleet bool
}

// sitePutPlan is the calls site put makes: create, when set, is tried
// first; update runs when create is unset or the site already exists.
type sitePutPlan struct {
	create *pb.CreateSiteRequest
	update *pb.UpdateSiteRequest
}

// planSitePut builds the requests of site put. With a certificate and an
// origin it creates the site, falling back to an update of exactly the
// given fields; with less it can only update. The mode goes into the new
// site's settings on create and is the path "settings.mode" of the update,
// which leaves all other settings alone.
func planSitePut(o sitePutOptions, load loader) (*sitePutPlan, error) {
	cert, err := serverCertificate(o, load)
	if err != nil {
		return nil, err
	}
	site := &pb.Site{Hostname: o.host, ServerCertificate: cert, OriginUrl: o.origin}
	var mask []string
	if cert != nil {
		mask = append(mask, "server_certificate")
	}
	if o.origin != "" {
		if u, err := url.Parse(o.origin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usagef("bad value %q for --origin: want an http:// or https:// URL", o.origin)
		}
		mask = append(mask, "origin_url")
	}
	if o.mode != "" {
		mode, ok := parseEnum[pb.Mode](o.mode)
		if !ok {
			return nil, usagef("bad value %q for --mode: want %s", o.mode, choices[pb.Mode]())
		}
		site.Settings = &pb.ClientCertSettings{Mode: mode}
		mask = append(mask, "settings.mode")
	}
	switch {
	case o.everyFleet && len(o.fleets) > 0:
		return nil, usagef("give either --fleet or --every-fleet, not both")
	case o.everyFleet || len(o.fleets) > 0:
		site.Fleets = o.fleets
		mask = append(mask, "fleets")
	}
	if len(mask) == 0 {
		return nil, usagef("nothing to put: give --cert and --key (or --cert-path and --key-path), --origin, --mode or --fleet")
	}
	p := &sitePutPlan{update: &pb.UpdateSiteRequest{Site: site, UpdateMask: mask}}
	if cert != nil && o.origin != "" {
		p.create = &pb.CreateSiteRequest{Site: proto.Clone(site).(*pb.Site)}
	}
	return p, nil
}

// serverCertificate builds the server certificate from either --cert and
// --key (files read here) or --cert-path and --key-path (paths on the proxy
// host, sent as they are); nil when neither pair is given.
func serverCertificate(o sitePutOptions, load loader) (*pb.ServerCertificate, error) {
	inline, files := o.cert != "" || o.key != "", o.certPath != "" || o.keyPath != ""
	switch {
	case inline && files:
		return nil, usagef("give either --cert and --key or --cert-path and --key-path, not both")
	case inline && (o.cert == "" || o.key == ""):
		return nil, usagef("--cert and --key go together")
	case files && (o.certPath == "" || o.keyPath == ""):
		return nil, usagef("--cert-path and --key-path go together")
	case files:
		return &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
			CertificateChainPath: o.certPath, PrivateKeyPath: o.keyPath}}}, nil
	case !inline:
		return nil, nil
	}
	chain, err := load(o.cert)
	if err != nil {
		return nil, err
	}
	key, err := load(o.key)
	if err != nil {
		return nil, err
	}
	return &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
		CertificateChainPem: string(chain), PrivateKeyPem: string(key)}}}, nil
}

// execute makes the planned calls and returns the resulting site.
func (p *sitePutPlan) execute(ctx context.Context, c pb.CertificateManagerServiceClient) (*pb.Site, error) {
	if p.create != nil {
		site, err := c.CreateSite(ctx, p.create)
		if status.Code(err) != codes.AlreadyExists {
			return site, err
		}
	}
	site, err := c.UpdateSite(ctx, p.update)
	if err != nil && p.create == nil && status.Code(err) == codes.NotFound {
		return nil, &noteError{err, "creating a site needs --cert and --key (or --cert-path and --key-path) and --origin"}
	}
	return site, err
}

// sitePut is "site put HOST (--cert FILE --key FILE | --cert-path PATH
// --key-path PATH) --origin URL [--mode MODE] [--fleet FLEET]...
// [--every-fleet]".
func sitePut(fs *flag.FlagSet) action {
	var o sitePutOptions
	fs.StringVar(&o.cert, "cert", "", "certificate chain PEM file")
	fs.StringVar(&o.key, "key", "", "private key PEM file")
	fs.StringVar(&o.certPath, "cert-path", "", "certificate chain path on the proxy host")
	fs.StringVar(&o.keyPath, "key-path", "", "private key path on the proxy host")
	fs.StringVar(&o.origin, "origin", "", "origin URL")
	fs.StringVar(&o.mode, "mode", "", "client-certificate mode")
	fs.Var((*stringList)(&o.fleets), "fleet", "a fleet whose Envoy nodes serve the site, and hold its key (repeatable; default: every fleet)")
	fs.BoolVar(&o.everyFleet, "every-fleet", false, "serve the site on every fleet again")
	return func(ctx context.Context, s *session, args []string) error {
		o.host = args[0]
		plan, err := planSitePut(o, s.load)
		if err != nil {
			return err
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		site, err := plan.execute(ctx, c)
		if err != nil {
			return err
		}
		return s.printFields(site, siteFields(site, s.now()))
	}
}
