package authz

import (
	"context"
	"crypto/x509"
	"net/url"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/ocspcache"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// OCSP answers OCSP status lookups; *ocspcache.Cache is one. Cached is
// the hot path and must not block; Prefetch starts a lookup without
// waiting; Lookup waits for one until ctx ends.
type OCSP interface {
	Cached(q *ocspcache.Query, now time.Time) (ocspcache.Result, bool)
	Prefetch(q *ocspcache.Query, now time.Time)
	Lookup(ctx context.Context, q *ocspcache.Query, now time.Time) ocspcache.Result
}

// ocspQueries are the OCSP queries of a verdict's chain under one model:
// the leaf's first, then each issuer's in chain order; nil for a
// certificate with no responder, or whose issuer is not uploaded, or that
// is self-issued (a root is not asked about itself).
type ocspQueries struct {
	m  *model.Model
	qs []*ocspcache.Query
}

// ocspQueries returns v's queries under t's model, built on first use:
// the responders and nonce settings come from the CAs of the model.
func (t *Table) ocspQueries(v *verdict) []*ocspcache.Query {
	if q := v.ocsp.Load(); q != nil && q.m == t.model {
		return q.qs
	}
	qs := buildQueries(t.model, v)
	v.ocsp.Store(&ocspQueries{m: t.model, qs: qs})
	return qs
}

// buildQueries makes the query of each certificate of v's chain.
func buildQueries(m *model.Model, v *verdict) []*ocspcache.Query {
	n := len(v.issuers)
	qs := make([]*ocspcache.Query, n+1)
	for i := range qs {
		serial, aia, fp := v.leaf.serial, v.leaf.ocspURLs, v.fp
		if i > 0 {
			c := v.issuers[i-1]
			serial, aia, fp = c.SerialNumber, c.OCSPServer, ""
		}
		var issuer *x509.Certificate
		var key pki.IssuerKey
		if i < n {
			issuer, key = v.issuers[i], v.issuerKeys[i]
		} else if key = m.IssuerOf(v.topFP); key.IsZero() || (n > 0 && key == v.issuerKeys[n-1]) {
			continue // the top's issuer is not uploaded, or the top is self-issued
		}
		is := m.Issuer(key)
		if issuer == nil {
			if is == nil || (fp != "" && pki.Fingerprint(is.Cert.Raw) == fp) {
				continue
			}
			issuer = is.Cert
		}
		if url := responder(is, aia); url != "" {
			qs[i] = ocspcache.NewQuery(serial, issuer, url, is != nil && is.OCSPNonce)
		}
	}
	return qs
}

// responder is where a certificate's status is asked: the responder set
// on its issuer's CA, else the first http or https responder its
// Authority Information Access names.
func responder(is *model.Issuer, aia []string) string {
	if is != nil && is.OCSPURL != "" {
		return is.OCSPURL
	}
	for _, raw := range aia {
		if u, err := url.Parse(raw); err == nil && u.Host != "" && (strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")) {
			return raw
		}
	}
	return ""
}

// ocspVerdict is what OCSP said of a chain: the worst answer of each kind.
type ocspVerdict struct {
	revoked, unknown, unavailable bool
	unchecked                     bool // a certificate had no responder
}

func (o *ocspVerdict) add(r ocspcache.Result) {
	switch r.Status {
	case ocspcache.Revoked:
		o.revoked = true
	case ocspcache.Unknown:
		o.unknown = true
	case ocspcache.Unavailable:
		o.unavailable = true
	}
}

// checkOCSP asks OCSP about v's leaf, or in chain mode every certificate
// of its chain. Cached answers are read without waiting; the others are
// looked up together, for at most the budget. It returns the reason the
// certificate fails for (revoked, or an unusable answer the site denies
// on), or soft, the reason of an unusable answer the site lets pass.
func (t *Table) checkOCSP(ctx context.Context, chk *checker, p *sitePolicy, v *verdict, now time.Time) (hard, soft contract.Reason, unchecked bool) {
	qs := t.ocspQueries(v)
	if p.ocsp == pbOCSPLeaf {
		qs = qs[:1]
	}
	var o ocspVerdict
	if chk.ocsp == nil {
		for _, q := range qs {
			o.unavailable = o.unavailable || q != nil // OCSP is not configured on this server
		}
	} else if !chk.cached(qs, now, &o) {
		o = ocspVerdict{}
		chk.lookup(ctx, qs, now, &o)
	}
	for _, q := range qs {
		o.unchecked = o.unchecked || q == nil
	}
	return p.ocspReasons(o)
}

// cached adds the cached answers of qs to o, and reports whether all were.
func (c *checker) cached(qs []*ocspcache.Query, now time.Time, o *ocspVerdict) bool {
	for _, q := range qs {
		if q == nil {
			continue
		}
		r, ok := c.ocsp.Cached(q, now)
		if !ok {
			return false
		}
		o.add(r)
	}
	return true
}

// lookup looks every query of qs up, started together, for at most the
// budget.
func (c *checker) lookup(ctx context.Context, qs []*ocspcache.Query, now time.Time, o *ocspVerdict) {
	ctx, cancel := context.WithTimeout(ctx, c.budget)
	defer cancel()
	for _, q := range qs {
		if q != nil {
			c.ocsp.Prefetch(q, now)
		}
	}
	for _, q := range qs {
		if q != nil {
			o.add(c.ocsp.Lookup(ctx, q, now))
		}
	}
}

// ocspReasons applies the site's choices to what OCSP said: revoked
// fails; unknown and unavailable fail, or pass as soft failures.
func (p *sitePolicy) ocspReasons(o ocspVerdict) (hard, soft contract.Reason, unchecked bool) {
	if o.revoked {
		return contract.ReasonRevoked, "", o.unchecked
	}
	for _, c := range []struct {
		on    bool
		allow bool
		r     contract.Reason
	}{{o.unknown, p.ocspUnknownAllow, contract.ReasonOCSPUnknown}, {o.unavailable, p.ocspUnavailableAllow, contract.ReasonOCSPUnavailable}} {
		switch {
		case c.on && !c.allow:
			return c.r, "", o.unchecked
		case c.on && soft == "":
			soft = c.r
		}
	}
	return "", soft, o.unchecked
}

const pbOCSPLeaf = pb.OCSPCheck_OCSP_CHECK_LEAF
