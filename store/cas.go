package store

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// maxNameLen bounds human names of CAs and tokens.
const maxNameLen = 128

// checkName validates a human name.
func checkName(field, name string) error {
	switch {
	case name == "":
		return invalid(field, "is required")
	case len(name) > maxNameLen:
		return invalid(field, "is longer than %d bytes", maxNameLen)
	case strings.TrimSpace(name) != name:
		return invalid(field, "has leading or trailing spaces")
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return invalid(field, "contains a control character")
	}
	return nil
}

// CreateCA uploads a client CA bundle and assigns it to sites, atomically.
func (s *Store) CreateCA(ctx context.Context, a Actor, name string, bundle []byte, sites []string) (*pb.ClientCA, error) {
	return s.AddCA(ctx, a, NewCA{Name: name, Bundle: bundle, Sites: sites})
}

// NewCA is a client CA to upload.
type NewCA struct {
	Name   string
	Bundle []byte
	// Sites the CA is assigned to in the same write.
	Sites []string
	// CRLURLs are the CA's CRL distribution points (checkCRLURLs).
	CRLURLs []string
	// OCSPURL is the responder for the certificates it issues ("": their
	// own); OCSPNonce asks that responder for nonces (ClientCA fields).
	OCSPURL   string
	OCSPNonce bool
}

// AddCA uploads a client CA bundle, with its CRL URLs, and assigns it to
// sites, atomically.
func (s *Store) AddCA(ctx context.Context, a Actor, n NewCA) (*pb.ClientCA, error) {
	name, bundle, sites := n.Name, n.Bundle, n.Sites
	if err := checkCAURLs(n.CRLURLs, n.OCSPURL); err != nil {
		return nil, err
	}
	if len(bundle) > s.limits.MaxObjectBytes {
		return nil, fmt.Errorf("%w: bundle is %d bytes, more than the %d-byte cap", ErrLimit, len(bundle), s.limits.MaxObjectBytes)
	}
	if err := checkName("name", name); err != nil {
		return nil, err
	}
	certs, err := pki.ParseCABundle(bundle)
	if err != nil {
		return nil, &ValidationError{Field: "bundle", Err: err}
	}
	ca := &pb.ClientCA{
		Id:               newID(),
		Name:             name,
		BundlePem:        pki.EncodePEM(certs),
		Info:             pki.Info(certs[0]),
		CertificateCount: int32(len(certs)),
		UploadedBy:       a.TokenID,
		UploadedAt:       timestamppb.New(s.now()),
		CrlUrls:          n.CRLURLs,
		OcspUrl:          n.OCSPURL,
		OcspNonce:        n.OCSPNonce,
	}
	for _, c := range certs {
		ca.Certificates = append(ca.Certificates, pki.Info(c))
	}
	_, err = s.commit(ctx, func(st *State) ([]Op, error) {
		if err := checkNewCA(st, ca, s.limits); err != nil {
			return nil, err
		}
		ops, err := s.assignOps(st.with(ca), a, ca.Id, sites, true)
		if err != nil {
			return nil, err
		}
		return s.withAudit(a, CARef(ca.Id), ops, caPrefix+ca.Id, ca)
	})
	if err != nil {
		return nil, err
	}
	return ca, nil
}

// caMaskPaths are the fields UpdateCA changes.
var caMaskPaths = []string{"name", "crl_urls", "ocsp_url", "ocsp_nonce"}

// UpdateCA renames a client CA or sets its CRL URLs or OCSP settings, as
// mask names (the fields of in: name, crl_urls, ocsp_url, ocsp_nonce);
// nothing else changes.
func (s *Store) UpdateCA(ctx context.Context, a Actor, id string, in *pb.ClientCA, mask []string) (*pb.ClientCA, error) {
	if len(mask) == 0 {
		return nil, errMaskRequired(strings.Join(caMaskPaths, ", "))
	}
	var out *pb.ClientCA
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		cur := st.CA(id)
		if cur == nil {
			return nil, notFound("client CA", id)
		}
		ca := proto.Clone(cur).(*pb.ClientCA)
		if err := applyMask(ca, in, mask, caMaskPaths); err != nil {
			return nil, err
		}
		if err := checkName("name", ca.GetName()); err != nil {
			return nil, err
		}
		if err := checkCAURLs(ca.GetCrlUrls(), ca.GetOcspUrl()); err != nil {
			return nil, err
		}
		for _, other := range st.cas {
			if other.GetId() != id && other.GetName() == ca.GetName() {
				return nil, fmt.Errorf("%w: a client CA named %q exists (id %s)", ErrAlreadyExists, ca.GetName(), other.GetId())
			}
		}
		out = ca
		return s.withAudit(a, CARef(id), nil, caPrefix+id, ca)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxCRLURLs and maxURLLen bound a CA's CRL URLs.
const (
	maxCRLURLs = 4
	maxURLLen  = 2048
)

// checkCAURLs validates the URLs of a CA: its CRL URLs and its OCSP
// responder, which follows the same rules.
func checkCAURLs(crlURLs []string, ocspURL string) error {
	if err := checkCRLURLs("crl_urls", crlURLs); err != nil {
		return err
	}
	if ocspURL == "" {
		return nil
	}
	return checkCRLURLs("ocsp_url", []string{ocspURL})
}

// checkCRLURLs validates CRL URLs set by an operator: at most maxCRLURLs
// distinct http or https URLs with a host and no credentials or fragment.
// (Where they may lead is the outbound policy's business, at fetch time.)
func checkCRLURLs(field string, urls []string) error {
	if len(urls) > maxCRLURLs {
		return invalid(field, "has %d URLs, at most %d", len(urls), maxCRLURLs)
	}
	for i, raw := range urls {
		if len(raw) > maxURLLen {
			return invalid(field, "URL %d is longer than %d bytes", i+1, maxURLLen)
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil || strings.ContainsAny(raw, " \t\r\n"):
			return invalid(field, "%q is not a URL", raw)
		case u.Scheme != "http" && u.Scheme != "https":
			return invalid(field, "%q: want an http:// or https:// URL", raw)
		case u.Host == "" || u.User != nil || u.Fragment != "":
			return invalid(field, "%q: want a host, and no credentials or fragment", raw)
		case slices.Contains(urls[:i], raw):
			return invalid(field, "%q is listed twice", raw)
		}
	}
	return nil
}

// checkNewCA enforces the account limit and uniqueness of name and bundle.
func checkNewCA(st *State, ca *pb.ClientCA, l Limits) error {
	if len(st.cas) >= l.MaxCAs {
		return fmt.Errorf("%w: the account already has %d client CAs (limit %d)", ErrLimit, len(st.cas), l.MaxCAs)
	}
	for _, other := range st.cas {
		if other.GetName() == ca.GetName() {
			return fmt.Errorf("%w: a client CA named %q exists (id %s)", ErrAlreadyExists, ca.GetName(), other.GetId())
		}
		if other.GetBundlePem() == ca.GetBundlePem() {
			return fmt.Errorf("%w: this bundle is already uploaded as client CA %s", ErrAlreadyExists, other.GetId())
		}
	}
	return nil
}

// DeleteCA deletes a client CA. An assigned CA is refused unless force is
// set, in which case it is unassigned from every site in the same write.
// A CRL belongs to an issuer identity, which other CAs may share: it stays
// while any remaining CA holds a certificate of its issuer (its
// informational ca_id then moves to one of them), and goes with the last
// such certificate, since it can then neither be verified nor apply to
// anything (re-upload it with the CA). The client CA of the issuing CA is
// not deleted (its CRL and issuance depend on it).
func (s *Store) DeleteCA(ctx context.Context, a Actor, id string, force bool) error {
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.CA(id) == nil {
			return nil, notFound("client CA", id)
		}
		if ica := st.IssuingCA(); ica != nil && ica.GetClientCaId() == id {
			return nil, fmt.Errorf("%w: client CA %s holds the account's issuing CA (mtlsgate cert ca show); it stays while the issuing CA exists", ErrFailedPrecondition, id)
		}
		sites := st.SitesOfCA(id)
		if len(sites) > 0 && !force {
			return nil, fmt.Errorf("%w: client CA %s is assigned to %s; unassign it first or force the delete",
				ErrFailedPrecondition, id, strings.Join(sites, ", "))
		}
		ops, err := s.assignOps(st, a, id, sites, false)
		if err != nil {
			return nil, err
		}
		ops = append(ops, Op{Key: caPrefix + id, Delete: true})
		crlOps, err := s.orphanCRLOps(st, id)
		if err != nil {
			return nil, err
		}
		ops = append(ops, crlOps...)
		return s.withAudit(a, CARef(id), ops, "", nil)
	})
	return err
}

// orphanCRLOps returns, for the deletion of CA deleted, the deletes of the
// CRLs whose issuer has no certificate in any other CA, and the rewrites
// of the CRLs whose informational certificate (ca_id) was in deleted but
// whose issuer lives on in another CA.
func (s *Store) orphanCRLOps(st *State, deleted string) ([]Op, error) {
	type holder struct{ caID, fp string }
	kept := map[pki.IssuerKey]holder{} // first remaining certificate of each issuer
	fps := map[string]bool{}           // every remaining certificate
	for _, ca := range st.CAs() {
		if ca.GetId() == deleted {
			continue
		}
		certs, err := pki.ParseCertificates([]byte(ca.GetBundlePem()))
		if err != nil {
			return nil, fmt.Errorf("store: stored client CA %s does not parse: %w", ca.GetId(), err)
		}
		for _, c := range certs {
			fp := pki.Fingerprint(c.Raw)
			fps[fp] = true
			if k := pki.IssuerKeyOf(c); kept[k] == (holder{}) {
				kept[k] = holder{ca.GetId(), fp}
			}
		}
	}
	var ops []Op
	for _, crl := range st.CRLs() {
		k := CRLIssuerKey(crl)
		h, ok := kept[k]
		switch {
		case k.IsZero() && !fps[crl.GetIssuerSha256Fingerprint()], !k.IsZero() && !ok:
			ops = append(ops, Op{Key: crlPrefix + crl.GetId(), Delete: true})
		case ok && crl.GetCaId() == deleted:
			moved := proto.Clone(crl).(*pb.CRL)
			moved.CaId, moved.IssuerSha256Fingerprint = h.caID, h.fp
			op, err := s.putOp(crlPrefix+crl.GetId(), moved)
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		}
	}
	return ops, nil
}

// AssignCA assigns (or with assign=false unassigns) one CA to sites.
func (s *Store) AssignCA(ctx context.Context, a Actor, id string, sites []string, assign bool) (*pb.ClientCA, error) {
	if len(sites) == 0 {
		return nil, invalid("sites", "name at least one site")
	}
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.CA(id) == nil {
			return nil, notFound("client CA", id)
		}
		ops, err := s.assignOps(st, a, id, sites, assign)
		if err != nil {
			return nil, err
		}
		return s.withAudit(a, CARef(id), ops, "", nil)
	})
	if err != nil {
		return nil, err
	}
	return st.CA(id), nil
}

// assignOps returns the site writes that add (or remove) CA id to each site.
func (s *Store) assignOps(st *State, a Actor, id string, hosts []string, assign bool) ([]Op, error) {
	var ops []Op
	for _, host := range uniqueSorted(hosts) {
		site := st.Site(host)
		if site == nil {
			return nil, notFound("site", host)
		}
		ids := site.GetCaIds()
		if assign {
			ids = uniqueSorted(append(slices.Clone(ids), id))
		} else {
			ids = slices.DeleteFunc(slices.Clone(ids), func(x string) bool { return x == id })
		}
		op, err := s.siteCAsOp(st, a, site, ids)
		if err != nil {
			return nil, err
		}
		if op != nil {
			ops = append(ops, *op)
		}
	}
	return ops, nil
}

// siteCAsOp writes site with a new CA list, or returns nil when the list
// does not change.
func (s *Store) siteCAsOp(st *State, a Actor, site *pb.Site, ids []string) (*Op, error) {
	if slices.Equal(ids, site.GetCaIds()) {
		return nil, nil
	}
	if len(ids) > s.limits.MaxCAsPerSite {
		return nil, fmt.Errorf("%w: site %s would have %d client CAs (limit %d)", ErrLimit, site.GetHostname(), len(ids), s.limits.MaxCAsPerSite)
	}
	for _, id := range ids {
		if st.CA(id) == nil {
			return nil, notFound("client CA", id)
		}
	}
	n := proto.Clone(site).(*pb.Site)
	n.CaIds = ids
	s.touch(n, a)
	op, err := s.putOp(sitePrefix+n.GetHostname(), n)
	return &op, err
}

// withAudit appends the audit op and, when key is set, the put of msg.
func (s *Store) withAudit(a Actor, object Ref, ops []Op, key string, msg proto.Message) ([]Op, error) {
	if key != "" {
		op, err := s.putOp(key, msg)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	op, err := s.auditOp(a, object)
	if err != nil {
		return nil, err
	}
	return append(ops, op), nil
}

func uniqueSorted(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}

// caCertificates parses every certificate of every CA, keyed by CA id.
func caCertificates(st *State) (map[string][]*x509.Certificate, error) {
	out := make(map[string][]*x509.Certificate, len(st.cas))
	for id, ca := range st.cas {
		certs, err := pki.ParseCertificates([]byte(ca.GetBundlePem()))
		if err != nil {
			return nil, fmt.Errorf("store: stored client CA %s does not parse: %w", id, err)
		}
		out[id] = certs
	}
	return out, nil
}
