package authz

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/maphash"
	"math/big"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/originhdr"
	"github.com/mtlsgate/mtlsgate/pki"
)

// verdict is what checking one certificate against one site policy gives,
// apart from what depends on the time or on CRLs (re-checked per request).
// Verdicts are cached, keyed by the site policy's generation and a hash of
// the certificate exactly as Envoy sent it.
//
// A verdict keeps what later checks need, not the parsed leaf: the cache
// holds thousands of verdicts, and an x509.Certificate is hundreds of
// pointers the garbage collector would scan on every cycle (with 10,000
// cached verdicts they doubled the mark work of the ext_authz process).
type verdict struct {
	encoded string          // the source.certificate it is for (guards hash collisions)
	reason  contract.Reason // malformed or untrusted; "" when a chain was built
	parsed  bool            // the certificate was readable: fp, fields, names, leaf are set
	fp      string
	fields  *originhdr.Fields
	leaf    leafFacts
	// issuers is the chain above the leaf, nearest first: certificates of
	// the site's CAs, shared with the policy, and intermediates an XFCC
	// Chain brought. nil unless reason == "".
	issuers []*x509.Certificate
	// issuerKeys are the identities of issuers (same index): the issuer of
	// the leaf, then of each issuer in turn, whose CRLs apply.
	issuerKeys []pki.IssuerKey
	// topFP is the fingerprint of the chain's top (the leaf itself when it
	// is one of the site's anchors), whose issuer is looked up per Table.
	topFP string
	eku   bool // the leaf carries id-kp-clientAuth explicitly
	// pkiless: the certificate is a self-signed one the site admits
	// through its identity, the whole chain.
	pkiless bool
	// identity names whom the certificate belongs to ("": unknown), and
	// identityReason refuses it for that (identity.go).
	identity       string
	identityReason contract.Reason
	names          []string // access-rule names: "subject:...", "dns:...", ...
	// ocsp are its chain's OCSP queries under the latest model that
	// needed them (ocsp.go).
	ocsp atomic.Pointer[ocspQueries]
	// allowed is the answer to an allowed request whose certificate
	// verified, built on first use: it depends only on the verdict and its
	// site policy (a verdict belongs to one policy generation), so every
	// such request shares it. Answers are never modified once built.
	allowed atomic.Pointer[answer]
	// dated is that answer while it also depends on the day (a site that
	// sends days_left, originhdr.Names.Until): built again past its until.
	// (Apart from allowed, so that other sites' answers carry no time.)
	dated atomic.Pointer[datedAnswer]
}

// datedAnswer is an answer that holds up to until (Unix nanoseconds).
type datedAnswer struct {
	*answer
	until int64
}

// allowedAnswer returns v's answer to an allowed, verified request under p
// at now, with identity the pinned identity of v's certificate.
func (v *verdict) allowedAnswer(p *sitePolicy, identity string, now time.Time) *answer {
	if a := v.allowed.Load(); a != nil {
		return a
	}
	if d := v.dated.Load(); d != nil && now.UnixNano() <= d.until {
		return d.answer
	}
	set, remove := p.names.Build(nil, nil, contract.VerifySuccess, v.fields, identity, now)
	a := sharedAnswer(okResponse(set, remove))
	if until := p.names.Until(v.fields, now); !until.IsZero() {
		v.dated.Store(&datedAnswer{answer: a, until: until.UnixNano()})
	} else {
		v.allowed.Store(a) // for good (days_left, if sent, is 0 from now on)
	}
	return a
}

// leafFacts is what the per-request checks read of the leaf.
type leafFacts struct {
	notBefore, notAfter time.Time
	serial              *big.Int
	// rawIssuer is the leaf's issuer name, DER: with serial, what the
	// denylist looks it up by (deny.go).
	rawIssuer []byte
	// isCA: basicConstraints says CA:TRUE. Such a certificate is never a
	// client certificate (contract.ReasonCACertificate).
	isCA bool
	// crlDPs are the leaf's cRLDistributionPoints URIs: they pick which
	// partitioned CRLs of its issuer cover it (crlset.Set.Covers).
	crlDPs []string
	// ocspURLs are the OCSP responders its Authority Information Access
	// names.
	ocspURLs []string
}

type cacheKey struct {
	gen uint64
	sum uint64
}

// verdictCache is an LRU of verdicts. Its hash is seeded per process;
// every hit is confirmed against the full encoded certificate, so a
// colliding input can never borrow another certificate's verdict.
type verdictCache struct {
	lru  *lru.Cache[cacheKey, *verdict]
	seed maphash.Seed
	// learn, when set, is offered the distribution points of each leaf
	// newly verified (Options.LearnDistributionPoints).
	learn func(urls []string, issuer pki.IssuerKey, fingerprint string)
}

func newVerdictCache(size int) *verdictCache {
	c, err := lru.New[cacheKey, *verdict](size)
	if err != nil {
		panic(err) // size is validated by the caller
	}
	return &verdictCache{lru: c, seed: maphash.MakeSeed()}
}

// verdictFor returns the cached verdict for encoded under p, or computes
// and caches it. hit reports a cache hit.
func (c *verdictCache) verdictFor(p *sitePolicy, encoded string, now time.Time) (v *verdict, hit bool) {
	k := cacheKey{gen: p.gen, sum: maphash.String(c.seed, encoded)}
	if v, ok := c.lru.Get(k); ok && v.encoded == encoded {
		return v, true
	}
	v = computeVerdict(p, encoded, now)
	c.lru.Add(k, v)
	if c.learn != nil && v.reason == "" && len(v.leaf.crlDPs) > 0 && len(v.issuerKeys) > 0 {
		c.learn(v.leaf.crlDPs, v.issuerKeys[0], v.fp)
	}
	return v, false
}

// computeVerdict parses the leaf and builds its chain to the site's
// anchors. The chain is built at a moment inside the leaf's validity, so
// that an expired certificate is reported as expired (by the per-request
// time check) rather than as untrusted.
func computeVerdict(p *sitePolicy, encoded string, now time.Time) *verdict {
	v := &verdict{encoded: encoded}
	leaf, intermediates, err := p.parse(encoded)
	if err != nil {
		v.reason = contract.ReasonMalformed
		return v
	}
	v.parsed, v.fp = true, pki.Fingerprint(leaf.Raw)
	v.leaf = leafFacts{notBefore: leaf.NotBefore, notAfter: leaf.NotAfter, serial: leaf.SerialNumber,
		rawIssuer: bytes.Clone(leaf.RawIssuer), isCA: leaf.BasicConstraintsValid && leaf.IsCA, crlDPs: leaf.CRLDistributionPoints, ocspURLs: leaf.OCSPServer}
	v.fields = p.names.Fields(leaf)
	v.eku = slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	v.names = ruleNames(leaf)
	at := now
	if at.Before(leaf.NotBefore) {
		at = leaf.NotBefore
	} else if at.After(leaf.NotAfter) {
		at = leaf.NotAfter
	}
	usage := x509.ExtKeyUsageAny
	if intermediates != nil {
		// Intermediates the client sent (an XFCC Chain) were chosen by
		// no operator: each must allow clientAuth, as BoringSSL would
		// require. (A leaf without EKU still passes here; its own EKU
		// is checked below, explicitly.)
		usage = x509.ExtKeyUsageClientAuth
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         p.pool, // every assigned certificate is an anchor: see chain.go
		Intermediates: intermediates,
		CurrentTime:   at,
		// EKU is checked on the leaf alone, explicitly: Go's own check
		// treats a leaf without the extension as good for any purpose.
		KeyUsages: []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return p.unverified(v, leaf, chainReason(err))
	}
	// A copy: chain[1:] would keep the leaf alive through its array.
	v.issuers = slices.Clone(p.longest(chains, at)[1:])
	v.issuerKeys = make([]pki.IssuerKey, len(v.issuers))
	for i, c := range v.issuers {
		v.issuerKeys[i] = pki.IssuerKeyOf(c)
	}
	v.topFP = v.fp
	if n := len(v.issuers); n > 0 {
		v.topFP = pki.Fingerprint(v.issuers[n-1].Raw)
	}
	return p.identify(v, leaf)
}

// parse reads a request's certificate: the leaf alone, from Envoy's
// source.certificate, or, from an XFCC element, a chain whose
// certificates after the first are offered as intermediates (untrusted:
// they help build a chain to the site's anchors).
func (p *sitePolicy) parse(encoded string) (leaf *x509.Certificate, intermediates *x509.CertPool, err error) {
	if p.xfcc == nil {
		der, err := extract.LeafDER(encoded)
		if err != nil {
			return nil, nil, err
		}
		leaf, err = x509.ParseCertificate(der)
		return leaf, nil, err
	}
	ders, err := extract.ChainDER(encoded)
	if err != nil {
		return nil, nil, err
	}
	if leaf, err = x509.ParseCertificate(ders[0]); err != nil {
		return nil, nil, err
	}
	for i, der := range ders[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("chain certificate %d: %w", i+1, err)
		}
		if intermediates == nil {
			intermediates = x509.NewCertPool()
		}
		intermediates.AddCert(c)
	}
	return leaf, intermediates, nil
}

// longest extends every chain Go built (leaf, anchor) through the site's CA
// links and picks the longest, the first on a tie. The longest chain
// reaches the anchors' own issuers, whose CRLs can then revoke them in
// chain mode.
func (p *sitePolicy) longest(chains [][]*x509.Certificate, at time.Time) []*x509.Certificate {
	var best []*x509.Certificate
	for _, c := range chains {
		if c = p.extend(c, at); len(c) > len(best) {
			best = c
		}
	}
	return best
}

// chainReason maps a chain-building failure to a reason. A CA outside its
// validity window at the leaf's time is reported as expired.
func chainReason(err error) contract.Reason {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		return contract.ReasonExpired
	}
	return contract.ReasonUntrusted
}

// ruleNames lists the names access rules can match for a certificate.
func ruleNames(c *x509.Certificate) []string {
	out := []string{"subject:" + c.Subject.String()}
	for _, d := range c.DNSNames {
		out = append(out, "dns:"+d)
	}
	for _, u := range c.URIs {
		out = append(out, "uri:"+u.String())
	}
	for _, e := range c.EmailAddresses {
		out = append(out, "email:"+strings.ToLower(e))
	}
	return out
}

// checkTime reports a certificate of v's chain outside its validity.
func checkTime(v *verdict, now time.Time) contract.Reason {
	if r := validAt(v.leaf.notBefore, v.leaf.notAfter, now); r != "" {
		return r
	}
	for _, c := range v.issuers {
		if r := validAt(c.NotBefore, c.NotAfter, now); r != "" {
			return r
		}
	}
	return ""
}

// validAt reports now outside [notBefore, notAfter].
func validAt(notBefore, notAfter, now time.Time) contract.Reason {
	if now.Before(notBefore) {
		return contract.ReasonNotYetValid
	}
	if now.After(notAfter) {
		return contract.ReasonExpired
	}
	return ""
}

// checkRevocation looks the certificates of v's chain up in the CRLs of
// their issuers, by issuer identity (name and key, so that every
// certificate of an issuer shares its CRLs): the leaf only, or in chain
// mode every certificate, the top included (its issuer is found among all
// uploaded CA certificates; a self-signed top is its own issuer). The
// leaf is checked even when it is itself one of the site's anchors and
// the chain is the leaf alone.
//
// An issuer may have several CRLs in force, one per scope and partition;
// a certificate is looked up in each that covers it (crlset.Set.Covers:
// an ARL covers only CA certificates, a partitioned CRL only certificates
// naming its distribution point). A certificate no CRL of its issuer
// covers is not checked, as when the issuer has none, and uncovered
// reports it (for a metric: a partition or scope not uploaded). A revoked
// serial anywhere in the chain wins over a stale CRL; a stale covering CRL
// fails unless the site allows it.
func (t *Table) checkRevocation(p *sitePolicy, v *verdict, now time.Time) (_ contract.Reason, uncovered bool) {
	n := 0
	switch p.crl {
	case pbCRLLeaf:
		n = 1
	case pbCRLChain:
		n = len(v.issuers) + 1
	}
	serial, isCA, dps := v.leaf.serial, v.leaf.isCA, v.leaf.crlDPs
	var stale bool
	for i := 0; i < n; i++ {
		if i > 0 {
			c := v.issuers[i-1]
			serial, isCA, dps = c.SerialNumber, c.IsCA, c.CRLDistributionPoints
		}
		var key pki.IssuerKey
		if i < len(v.issuerKeys) {
			key = v.issuerKeys[i]
		} else if key = t.model.IssuerOf(v.topFP); key.IsZero() {
			continue // the top's issuer is not uploaded
		}
		crls, covered := t.model.Revocation(key), false
		for _, e := range crls {
			if !e.Set.Covers(isCA, dps) {
				continue
			}
			if e.Set.Contains(serial) {
				return contract.ReasonRevoked, uncovered
			}
			covered, stale = true, stale || e.Stale(now.Add(-p.staleGrace))
		}
		uncovered = uncovered || (len(crls) > 0 && !covered)
	}
	if stale && !p.allowStaleCRL {
		return contract.ReasonCRLStale, uncovered
	}
	return "", uncovered
}
