package authz

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/originhdr"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Table is the compiled, immutable policy of every site at one store
// revision. Check reads it without locks; a new Table replaces it whole.
type Table struct {
	// Rev is the store revision it was compiled from.
	Rev int64
	// Gen counts compilations.
	Gen uint64
	// Built is when it was compiled.
	Built time.Time

	sites map[string]*sitePolicy // by site key, "*.example.com" included
	// crls maps an issuer identity to the revocation sets of its CRLs in
	// force, one per scope and partition (store.State.CRLsOfIssuer): every
	// certificate of the issuer (renewed, cross-signed, in several bundles)
	// shares them.
	crls map[pki.IssuerKey][]*crlEntry
	// issuerOf maps the fingerprint of each uploaded CA certificate to the
	// identity of its issuer, when known: itself when self-signed, else an
	// uploaded certificate whose key verifies it (see compileLinks). It
	// finds the CRL of the top of a chain, whose issuer is not in it.
	issuerOf map[string]pki.IssuerKey
	// cas and crlList are kept for reuse by the next compilation and for
	// expiry metrics.
	cas     map[string]*caEntry
	crlByID map[string]*crlEntry
	// links are the verified issuer links between CA certificates;
	// checked remembers every pair checked, for the next compilation.
	links   issuerLinks
	checked map[linkKey]bool
	// Errors holds why sites or CRLs could not be compiled, by object.
	Errors map[store.Ref]error
	// nodes is what Check reads of the nodes that call it (see nodes.go);
	// set by Service.Load before the table is published.
	nodes *nodeView
}

// caEntry is one client CA's parsed certificates, with per certificate
// (same index) its fingerprint, its identity as an issuer and whether it
// is self-signed.
type caEntry struct {
	msg        *pb.ClientCA
	certs      []*x509.Certificate
	fps        []string
	keys       []pki.IssuerKey
	selfSigned []bool
}

func newCAEntry(msg *pb.ClientCA, certs []*x509.Certificate) *caEntry {
	e := &caEntry{msg: msg, certs: certs}
	for _, c := range certs {
		e.fps = append(e.fps, pki.Fingerprint(c.Raw))
		e.keys = append(e.keys, pki.IssuerKeyOf(c))
		e.selfSigned = append(e.selfSigned, pki.SelfSigned(c))
	}
	return e
}

// crlEntry is one CRL's compact revocation set.
type crlEntry struct {
	msg *pb.CRL
	set *crlset.Set
}

// stale reports whether the CRL is past its nextUpdate at now.
func (c *crlEntry) stale(now time.Time) bool {
	nu := c.set.NextUpdate()
	return !nu.IsZero() && now.After(nu)
}

// sitePolicy is one site's compiled policy.
type sitePolicy struct {
	// gen is unique to this build of the site's policy: verification
	// verdicts are cached under it, so a changed policy never serves a
	// verdict made under the old one.
	gen   uint64
	key   string
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
	pins          map[string]string
	rules         []accessRule
	names         *originhdr.Names
	// badCertStatus and noCertStatus are the HTTP statuses an enforcing
	// site denies with: a certificate that fails, or none at all.
	badCertStatus, noCertStatus uint32
	// deps are what the policy was built from; equal deps mean the
	// previous build can be reused (and its cached verdicts kept).
	deps []any
	// err, when set, makes every request to the site fail closed.
	err error
	// noCertAnswer and disabledAnswer are the shared answers to allowed
	// requests that carry no certificate (verify NONE), and to requests to
	// a disabled site, built on first use.
	noCertAnswer, disabledAnswer atomic.Pointer[answer]
}

// accessRule is an AccessRule with its canonical prefix (see
// store.RulePrefix) and its name lists as sets.
type accessRule struct {
	prefix string
	folded string          // prefix in lower case
	names  map[string]bool // "subject:...", "dns:...", "uri:...", "email:...", "identity:..."
}

var generations atomic.Uint64

// strictness orders modes: a request may not reach a stricter site over a
// connection made for a laxer one.
func (p *sitePolicy) strictness() int {
	switch p.mode {
	case pb.Mode_MODE_ENFORCE:
		return 2
	case pb.Mode_MODE_PERMISSIVE:
		return 1
	}
	return 0
}

// Compile builds the Table for st, reusing from prev (which may be nil)
// every parsed CA, CRL set and site policy whose inputs did not change.
func Compile(st *store.State, prev *Table, now time.Time) *Table {
	t := &Table{
		Rev: st.Rev, Gen: generations.Add(1), Built: now,
		sites:   map[string]*sitePolicy{},
		crls:    map[pki.IssuerKey][]*crlEntry{},
		cas:     map[string]*caEntry{},
		crlByID: map[string]*crlEntry{},
		Errors:  map[store.Ref]error{},
	}
	if prev == nil {
		prev = &Table{}
	}
	t.compileLinks(t.compileCAs(st, prev), prev)
	t.compileCRLs(st, prev)
	for _, site := range st.Sites() {
		t.placeSite(site, prev)
	}
	return t
}

// placeSite compiles a site. A policy that fails to compile is applied
// as it is: every request to the site is denied (503 policy_error), and
// the error is reported; the other sites are not affected. (Applying the
// site's last good policy instead could be weaker than what the operator
// asks now: a CA they removed, a mode they tightened.)
func (t *Table) placeSite(site *pb.Site, prev *Table) {
	p := t.compileSite(site, prev.sites[site.GetHostname()])
	if p.err != nil {
		t.Errors[store.SiteRef(site.GetHostname())] = p.err
	}
	t.sites[p.key] = p
}

// compileCAs parses the CAs that changed and returns the ids of those
// loaded, in id order.
func (t *Table) compileCAs(st *store.State, prev *Table) []string {
	var ids []string
	for _, ca := range st.CAs() {
		if old := prev.cas[ca.GetId()]; old != nil && old.msg == ca {
			t.cas[ca.GetId()] = old
			ids = append(ids, ca.GetId())
			continue
		}
		certs, err := pki.ParseCertificates([]byte(ca.GetBundlePem()))
		if err != nil {
			t.Errors[store.CARef(ca.GetId())] = err
			continue
		}
		t.cas[ca.GetId()] = newCAEntry(ca, certs)
		ids = append(ids, ca.GetId())
	}
	return ids
}

// compileCRLs parses new CRLs (checking each signature once against a
// certificate of its issuer) and indexes the CRLs in force of each issuer
// identity (store.State.CRLInForce: one per scope and partition) by that
// identity, in id order.
func (t *Table) compileCRLs(st *store.State, prev *Table) {
	byKey := map[pki.IssuerKey][]*x509.Certificate{}
	for _, ca := range t.cas {
		for i, c := range ca.certs {
			byKey[ca.keys[i]] = append(byKey[ca.keys[i]], c)
		}
	}
	for _, crl := range st.CRLs() {
		key := store.CRLIssuerKey(crl)
		switch {
		case key.IsZero():
			t.Errors[store.CRLRef(crl.GetId())] = fmt.Errorf("the identity of issuer %s is unknown (its CA certificate is gone): upload the CRL again", crl.GetIssuer())
			continue
		case !st.CRLInForce(crl):
			continue // superseded by a newer CRL of the same issuer, scope and partition
		case len(byKey[key]) == 0:
			t.Errors[store.CRLRef(crl.GetId())] = fmt.Errorf("issuer %s is in no client CA", crl.GetIssuer())
			continue
		}
		e := prev.crlByID[crl.GetId()]
		if e == nil || e.msg != crl {
			set, err := parseWithAny(crl.GetDer(), byKey[key])
			if err != nil {
				t.Errors[store.CRLRef(crl.GetId())] = err
				continue
			}
			e = &crlEntry{msg: crl, set: set}
		}
		t.crlByID[crl.GetId()] = e
		t.crls[key] = append(t.crls[key], e) // st.CRLs() is sorted by id
	}
}

// parseWithAny parses a CRL verified by the first of issuers (certificates
// of one identity) that crlset accepts as its signer: they share the key,
// but one may lack the cRLSign key usage another has.
func parseWithAny(der []byte, issuers []*x509.Certificate) (*crlset.Set, error) {
	var err error
	for _, c := range issuers {
		var set *crlset.Set
		if set, err = crlset.ParseVerified(der, c); err == nil {
			return set, nil
		}
	}
	return nil, err
}

// compileSite returns prev when nothing it depends on changed, else a new
// policy with a new generation.
func (t *Table) compileSite(site *pb.Site, prev *sitePolicy) *sitePolicy {
	deps := []any{site}
	for _, id := range site.GetCaIds() {
		deps = append(deps, t.cas[id])
	}
	if prev != nil && slices.Equal(prev.deps, deps) {
		return prev
	}
	p, err := buildSite(site, t.cas, t.links)
	if err != nil {
		p = &sitePolicy{key: site.GetHostname(), err: err}
	}
	p.gen, p.deps = generations.Add(1), deps
	return p
}

func buildSite(site *pb.Site, cas map[string]*caEntry, links issuerLinks) (*sitePolicy, error) {
	s := site.GetSettings()
	names, err := originhdr.NewNames(s.GetHeaders(), s.GetCertEncoding())
	if err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	p := &sitePolicy{
		key: site.GetHostname(), mode: s.GetMode(), pool: x509.NewCertPool(),
		caKey: strings.Join(site.GetCaIds(), ","), requireEKU: s.GetRequireClientAuthEku(),
		allowExpired: s.GetAllowExpired(), crl: s.GetRevocation().GetCrl(),
		allowStaleCRL: s.GetRevocation().GetOnStaleCrl() == pb.StaleCRLAction_STALE_CRL_ACTION_ALLOW,
		pins:          map[string]string{}, names: names,
		badCertStatus: s.GetBadCertificateStatus(), noCertStatus: s.GetMissingCertificateStatus(),
	}
	var certs []*x509.Certificate
	for _, id := range site.GetCaIds() {
		ca := cas[id]
		if ca == nil {
			return nil, fmt.Errorf("client CA %s could not be loaded", id)
		}
		for _, c := range ca.certs {
			p.pool.AddCert(c)
		}
		certs = append(certs, ca.certs...)
	}
	p.links = siteLinks(links, certs)
	for _, pin := range s.GetPins() {
		p.pins[pin.GetSha256Fingerprint()] = pin.GetIdentity()
	}
	if p.rules, err = compileRules(s.GetAccessRules()); err != nil {
		return nil, fmt.Errorf("access rules: %w", err)
	}
	return p, nil
}

// compileRules makes each rule's prefix canonical, once. A prefix the
// store would refuse now (stored by an older version) fails the site's
// policy rather than protect less than its operator meant.
func compileRules(in []*pb.AccessRule) ([]accessRule, error) {
	var out []accessRule
	seen := map[string]bool{}
	for _, r := range in {
		prefix, err := store.RulePrefix(r.GetPathPrefix())
		if err != nil {
			return nil, fmt.Errorf("path prefix %q: %w", r.GetPathPrefix(), err)
		}
		ar := accessRule{prefix: prefix, folded: strings.ToLower(prefix), names: map[string]bool{}}
		if seen[ar.folded] {
			return nil, fmt.Errorf("path prefix %q: two rules cover the same paths", r.GetPathPrefix())
		}
		seen[ar.folded] = true
		for kind, list := range map[string][]string{
			"subject": r.GetSubjects(), "dns": r.GetDnsNames(), "uri": r.GetUris(),
			"email": r.GetEmails(), "identity": r.GetIdentities(),
		} {
			for _, n := range list {
				ar.names[kind+":"+n] = true
			}
		}
		out = append(out, ar)
	}
	return out, nil
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
