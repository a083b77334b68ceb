package authz

import (
	"crypto/x509"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/originhdr"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Table is the policy of every site at one store revision, translated
// from the model. Check reads it without locks; a new Table replaces it
// whole.
type Table struct {
	// Rev is the store revision it was compiled from.
	Rev int64
	// Gen counts compilations.
	Gen uint64
	// Built is when it was compiled.
	Built time.Time

	sites map[string]*sitePolicy // by site key, "*.example.com" included
	// model is what the table was translated from: Check finds there the
	// CRLs of each issuer identity and the issuer of the top of a chain.
	model *model.Model
	// Errors are the model's: why sites, CAs or CRLs could not be
	// compiled, by object.
	Errors map[store.Ref]error
	// nodes is what Check reads of the nodes that call it (see nodes.go);
	// set by Service.Load before the table is published.
	nodes *nodeView
}

// sitePolicy is one site's policy.
type sitePolicy struct {
	// gen is unique to this build of the site's policy: verification
	// verdicts are cached under it, so a changed policy never serves a
	// verdict made under the old one.
	gen uint64
	key string
	// src is the model site it was built from: a policy is rebuilt only
	// when the model compiled its site anew.
	src   *model.Site
	mode  pb.Mode
	pool  *x509.CertPool // every assigned certificate, each a trust anchor
	links issuerLinks    // verified links between the assigned certificates
	caKey string         // sorted assigned CA ids, to compare CA sets
	// requireEKU: the leaf must carry id-kp-clientAuth explicitly.
	requireEKU bool
	// allowExpired: a certificate outside its validity still verifies.
	allowExpired bool
	crl          pb.CRLCheck
	// allowStaleCRL: a CRL past its nextUpdate does not fail a check.
	allowStaleCRL bool
	// staleGrace: a CRL past its nextUpdate by less than this is fresh.
	staleGrace time.Duration
	// ocsp says which certificates OCSP checks; ocspUnavailableAllow and
	// ocspUnknownAllow make those answers soft failures.
	ocsp                                   pb.OCSPCheck
	ocspUnavailableAllow, ocspUnknownAllow bool
	pins                                   map[string]string
	ident                                  identityPolicy
	rules                                  []model.Rule
	names                                  *originhdr.Names
	// badCertStatus and noCertStatus are the HTTP statuses an enforcing
	// site denies with: a certificate that fails, or none at all.
	badCertStatus, noCertStatus uint32
	// xfcc, when set, is where the client certificate comes from: the
	// x-forwarded-client-cert header (nil: Envoy's source.certificate).
	xfcc *xfccTrust
	// err, when set, makes every request to the site fail closed.
	err error
	// atRequest: an enforcing site's handshake accepts any certificate,
	// and ext_authz alone verifies (verify_at REQUEST).
	atRequest bool
	// refusals shape the site's denials (nil: the default ones).
	refusals *refusals
	// noCertAnswer and disabledAnswer are the shared answers to allowed
	// requests that carry no certificate (verify NONE), and to requests to
	// a disabled site, built on first use.
	noCertAnswer, disabledAnswer atomic.Pointer[answer]
}

var generations atomic.Uint64

// strictness orders modes: a request may not reach a stricter site over a
// connection made for a laxer one.
func (p *sitePolicy) strictness() int {
	switch p.mode {
	case pb.Mode_MODE_ENFORCE:
		if !p.atRequest {
			return 3 // the handshake verified the certificate too
		}
		return 2
	case pb.Mode_MODE_PERMISSIVE:
		return 1
	}
	return 0
}

// Compile translates m into a Table, reusing from prev (which may be nil)
// the policy of every site whose model site is the same.
//
// A site the model could not compile is applied as it is: every request
// to it is denied (503 policy_error), and the error is reported; the other
// sites are not affected. (Applying the site's last good policy instead
// could be weaker than what the operator asks now: a CA they removed, a
// mode they tightened.)
func Compile(m *model.Model, prev *Table, now time.Time) *Table {
	t := &Table{Rev: m.Rev(), Gen: generations.Add(1), Built: now,
		sites: make(map[string]*sitePolicy, len(m.SiteList())), model: m, Errors: m.Errors}
	for _, ms := range m.SiteList() {
		host := ms.Host
		var old *sitePolicy
		if prev != nil {
			old = prev.sites[host]
		}
		if old != nil && old.src == ms && old.ident.ids == m.Identities {
			t.sites[host] = old
			continue
		}
		p := buildSite(ms)
		p.setIdentities(ms, m.Identities)
		p.gen, p.src = generations.Add(1), ms
		t.sites[host] = p
	}
	return t
}

// buildSite builds the policy of a model site.
func buildSite(ms *model.Site) *sitePolicy {
	if ms.Err != nil {
		return &sitePolicy{key: ms.Host, err: ms.Err}
	}
	s := ms.Msg.GetSettings()
	p := &sitePolicy{
		key: ms.Host, mode: s.GetMode(), pool: x509.NewCertPool(), links: issuerLinks(ms.Links),
		caKey: strings.Join(ms.Msg.GetCaIds(), ","), requireEKU: s.GetRequireClientAuthEku(),
		allowExpired: s.GetAllowExpired(), crl: s.GetRevocation().GetCrl(),
		allowStaleCRL:        s.GetRevocation().GetOnStaleCrl() == pb.StaleCRLAction_STALE_CRL_ACTION_ALLOW,
		staleGrace:           s.GetRevocation().GetStaleCrlGrace().AsDuration(),
		ocsp:                 s.GetRevocation().GetOcsp(),
		ocspUnavailableAllow: s.GetRevocation().GetOnOcspUnavailable() == pb.OCSPFailureAction_OCSP_FAILURE_ACTION_ALLOW,
		ocspUnknownAllow:     s.GetRevocation().GetOnOcspUnknown() == pb.OCSPFailureAction_OCSP_FAILURE_ACTION_ALLOW,
		pins:                 ms.Pins, rules: ms.Rules, names: ms.Names,
		badCertStatus: s.GetBadCertificateStatus(), noCertStatus: s.GetMissingCertificateStatus(),
	}
	p.setVerifyAt(s)
	for _, c := range ms.Certs {
		p.pool.AddCert(c.X509)
	}
	if s.GetCertificateSource() == pb.CertificateSource_CERTIFICATE_SOURCE_XFCC {
		p.xfcc, p.err = newXFCCTrust(s.GetXfcc())
	}
	return p
}

// site returns the policy of a site key exactly as stored.
func (t *Table) site(key string) *sitePolicy { return t.sites[key] }

// lookup finds the site serving host: the exact name first, then the
// one-label wildcard.
func (t *Table) lookup(host string) *sitePolicy {
	if host == "" || strings.Contains(host, "*") {
		return nil // a literal wildcard is no client's host name
	}
	if p := t.sites[host]; p != nil {
		return p
	}
	if w := extract.Wildcard(host); w != "" {
		return t.sites[w]
	}
	return nil
}
