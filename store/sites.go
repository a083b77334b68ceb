package store

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// siteMaskPaths are the fields of Site an update may name.
var siteMaskPaths = []string{"server_certificate", "origin_url", "ca_ids", "settings", "fleets"}

// CreateSite stores a new site. Unset settings take their defaults.
func (s *Store) CreateSite(ctx context.Context, a Actor, in *pb.Site) (*pb.Site, error) {
	site := proto.Clone(in).(*pb.Site)
	now := timestamppb.New(s.now())
	site.CreatedAt = now
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if err := pki.CheckHostname(site.GetHostname()); err != nil {
			return nil, &ValidationError{Field: "hostname", Err: err}
		}
		if st.Site(site.GetHostname()) != nil {
			return nil, fmt.Errorf("%w: site %s", ErrAlreadyExists, site.GetHostname())
		}
		if err := s.normalizeSite(st, site); err != nil {
			return nil, err
		}
		s.touch(site, a)
		return s.withAudit(a, SiteRef(site.GetHostname()), nil, sitePrefix+site.GetHostname(), site)
	})
	if err != nil {
		return nil, err
	}
	return st.Site(site.GetHostname()), nil
}

// errMaskRequired refuses an update that names no field. An empty mask
// once meant "replace every field", so an update carrying only a
// certificate and an origin reset the mode to disabled and dropped the
// site's CAs (finding 7); an update now changes only what it names.
func errMaskRequired(updatable string) error {
	return invalid("update_mask", "is required: name the fields to change (%s); nothing else changes", updatable)
}

// UpdateSite changes the fields of a site named by mask, and nothing
// else. An empty mask is refused.
func (s *Store) UpdateSite(ctx context.Context, a Actor, in *pb.Site, mask []string) (*pb.Site, error) {
	host := in.GetHostname()
	if len(mask) == 0 {
		return nil, errMaskRequired(strings.Join(siteMaskPaths, ", ") + ", settings.<field>")
	}
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		cur := st.Site(host)
		if cur == nil {
			return nil, notFound("site", host)
		}
		site := proto.Clone(cur).(*pb.Site)
		if err := applyMask(site, in, mask, siteMaskPaths); err != nil {
			return nil, err
		}
		if err := s.normalizeSite(st, site); err != nil {
			return nil, err
		}
		s.touch(site, a)
		return s.withAudit(a, SiteRef(host), nil, sitePrefix+host, site)
	})
	if err != nil {
		return nil, err
	}
	return st.Site(host), nil
}

// UpdateSettings changes the settings fields named by mask, and nothing
// else. An empty mask is refused.
func (s *Store) UpdateSettings(ctx context.Context, a Actor, host string, in *pb.ClientCertSettings, mask []string) (*pb.ClientCertSettings, error) {
	if len(mask) == 0 {
		return nil, errMaskRequired("settings fields such as mode, revocation.crl, pins")
	}
	paths := make([]string, len(mask))
	for i, p := range mask {
		paths[i] = "settings." + p
	}
	site, err := s.UpdateSite(ctx, a, &pb.Site{Hostname: host, Settings: in}, paths)
	if err != nil {
		return nil, err
	}
	return site.GetSettings(), nil
}

// DeleteSite deletes a site.
func (s *Store) DeleteSite(ctx context.Context, a Actor, host string) error {
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.Site(host) == nil {
			return nil, notFound("site", host)
		}
		return s.withAudit(a, SiteRef(host), []Op{{Key: sitePrefix + host, Delete: true}}, "", nil)
	})
	return err
}

// AssignSiteCAs adds (or with assign=false removes) CAs on one site.
func (s *Store) AssignSiteCAs(ctx context.Context, a Actor, host string, ids []string, assign bool) (*pb.Site, error) {
	if len(ids) == 0 {
		return nil, invalid("ca_ids", "name at least one client CA")
	}
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		site := st.Site(host)
		if site == nil {
			return nil, notFound("site", host)
		}
		next := map[string]bool{}
		for _, id := range site.GetCaIds() {
			next[id] = true
		}
		for _, id := range ids {
			if assign && st.CA(id) == nil {
				return nil, notFound("client CA", id)
			}
			next[id] = assign
		}
		var list []string
		for id, on := range next {
			if on {
				list = append(list, id)
			}
		}
		op, err := s.siteCAsOp(st, a, site, uniqueSorted(list))
		if err != nil || op == nil {
			return nil, err
		}
		return s.withAudit(a, SiteRef(host), []Op{*op}, "", nil)
	})
	if err != nil {
		return nil, err
	}
	return st.Site(host), nil
}

// touch stamps a site written by a.
func (s *Store) touch(site *pb.Site, a Actor) {
	site.UpdatedBy = a.TokenID
	site.UpdatedAt = timestamppb.New(s.now())
}

// normalizeSite validates every field of site against st and fills
// defaults and derived facts in place.
func (s *Store) normalizeSite(st *State, site *pb.Site) error {
	if err := s.normalizeServerCert(site); err != nil {
		return err
	}
	if err := checkOriginURL(site.GetOriginUrl()); err != nil {
		return err
	}
	if err := normalizeFleets(site); err != nil {
		return err
	}
	site.CaIds = uniqueSorted(site.GetCaIds())
	if len(site.CaIds) > s.limits.MaxCAsPerSite {
		return fmt.Errorf("%w: site %s would have %d client CAs (limit %d)", ErrLimit, site.GetHostname(), len(site.CaIds), s.limits.MaxCAsPerSite)
	}
	for _, id := range site.CaIds {
		if st.CA(id) == nil {
			return notFound("client CA", id)
		}
	}
	if site.Settings == nil {
		site.Settings = &pb.ClientCertSettings{}
	}
	return normalizeSettings(site.Settings, s.limits)
}

// normalizeServerCert checks the certificate source and fills its facts.
func (s *Store) normalizeServerCert(site *pb.Site) error {
	switch src := site.GetServerCertificate().GetSource().(type) {
	case *pb.ServerCertificate_Inline:
		return s.normalizeInline(site.GetHostname(), src.Inline)
	case *pb.ServerCertificate_Files:
		for field, p := range map[string]string{
			"server_certificate.files.certificate_chain_path": src.Files.GetCertificateChainPath(),
			"server_certificate.files.private_key_path":       src.Files.GetPrivateKeyPath(),
		} {
			if !filepath.IsAbs(p) || strings.ContainsRune(p, 0) || filepath.Clean(p) != p {
				return invalid(field, "must be a clean absolute path on the Envoy host, got %q", p)
			}
		}
		return nil
	}
	return invalid("server_certificate", "is required: inline PEM (certificate chain and key) or file paths")
}

func (s *Store) normalizeInline(host string, in *pb.InlineCertificate) error {
	chain, key := in.GetCertificateChainPem(), in.GetPrivateKeyPem()
	if len(chain) > s.limits.MaxObjectBytes || len(key) > s.limits.MaxObjectBytes {
		return fmt.Errorf("%w: server certificate or key is larger than the %d-byte cap", ErrLimit, s.limits.MaxObjectBytes)
	}
	certs, _, err := pki.ParseServerCertificate([]byte(chain), []byte(key))
	if err != nil {
		return &ValidationError{Field: "server_certificate.inline", Err: err}
	}
	if !pki.Covers(certs[0], host) {
		return invalid("server_certificate.inline", "certificate (DNS names %s) does not cover %s",
			strings.Join(certs[0].DNSNames, ", "), host)
	}
	in.CertificateChainPem = pki.EncodePEM(certs)
	in.Info = pki.Info(certs[0])
	return nil
}

// checkOriginURL accepts http(s)://host[:port] with no path, query,
// fragment or credentials: the origin is a cluster, not a rewrite rule.
func checkOriginURL(raw string) error {
	const field = "origin_url"
	if raw == "" {
		return invalid(field, "is required")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return invalid(field, "does not parse: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid(field, "scheme must be http or https, got %q", u.Scheme)
	case u.Hostname() == "":
		return invalid(field, "has no host")
	case u.User != nil:
		return invalid(field, "must not carry credentials")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return invalid(field, "must not have a path, query or fragment")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return invalid(field, "port %q is out of range", p)
		}
	}
	return nil
}
