package authz

import (
	"context"
	"crypto/x509"
	"errors"
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
// the hot path and must not block; Start begins a lookup without
// waiting, and its Pending waits for the answer.
type OCSP interface {
	Cached(q *ocspcache.Query, now time.Time) (ocspcache.Result, bool)
	Start(q *ocspcache.Query, now time.Time) *ocspcache.Pending
}

// ocspQueries are the OCSP queries of a verdict's chain under one model:
// the leaf's first, then each issuer's in chain order; nil for a
// certificate with no responder, or whose issuer is not uploaded, or that
// is self-issued (a root is not asked about itself).
type ocspQueries struct {
	m  *model.Model
	qs []*ocspcache.Query
	// silent marks the certificates (same index) that name no responder,
	// on a CA that sets none: OCSP cannot check them.
	silent []bool
}

// ocspQueries returns v's queries under t's model, built on first use:
// the responders and nonce settings come from the CAs of the model.
func (t *Table) ocspQueries(v *verdict) *ocspQueries {
	if q := v.ocsp.Load(); q != nil && q.m == t.model {
		return q
	}
	q := buildQueries(t.model, v)
	v.ocsp.Store(q)
	return q
}

// buildQueries makes the query of each certificate of v's chain.
func buildQueries(m *model.Model, v *verdict) *ocspQueries {
	n := len(v.issuers)
	out := &ocspQueries{m: m, qs: make([]*ocspcache.Query, n+1), silent: make([]bool, n+1)}
	for i := range out.qs {
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
			out.qs[i] = ocspcache.NewQuery(serial, issuer, url, is != nil && is.OCSPNonce)
		} else {
			out.silent[i] = true
		}
	}
	return out
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

// ocspVerdict is what OCSP said of a chain: the worst answer of each
// kind, and why there was no usable answer.
type ocspVerdict struct {
	revoked, unknown, unavailable bool
	detail                        error
}

func (o *ocspVerdict) add(r ocspcache.Result) {
	switch r.Status {
	case ocspcache.Revoked:
		o.revoked = true
	case ocspcache.Unknown:
		o.unknown = true
	case ocspcache.Unavailable:
		o.unavailable = true
		if o.detail == nil {
			o.detail = r.Err
		}
	}
}

// Errors of certificates OCSP cannot check.
var (
	errNoResponder = errors.New("ocsp: the certificate names no responder and its CA sets none")
	errNoOCSP      = errors.New("ocsp: OCSP is off on this server (revocation.ocsp.enabled)")
)

// checkOCSP asks OCSP about v's leaf, or in chain mode every certificate
// of its chain. Cached answers are read without waiting; the others are
// started together and waited for at most the budget. A certificate that
// names no responder (on a CA that sets none) has no usable answer. It
// returns the reason the certificate fails for (revoked, or a missing
// answer the site denies on), or soft, the reason of a missing answer the
// site lets pass, with why the answer is missing.
func (t *Table) checkOCSP(ctx context.Context, chk *checker, p *sitePolicy, v *verdict, now time.Time) (hard, soft contract.Reason, unchecked bool, detail error) {
	oq := t.ocspQueries(v)
	qs, silent := oq.qs, oq.silent
	if p.ocsp == pbOCSPLeaf {
		qs, silent = qs[:1], silent[:1]
	}
	var o ocspVerdict
	for _, s := range silent {
		if s {
			unchecked = true
			o.add(ocspcache.Result{Status: ocspcache.Unavailable, Err: errNoResponder})
		}
	}
	if chk.ocsp == nil {
		for _, q := range qs {
			if q != nil {
				o.add(ocspcache.Result{Status: ocspcache.Unavailable, Err: errNoOCSP})
			}
		}
	} else {
		chk.lookup(ctx, qs, now, &o)
	}
	hard, soft = p.ocspReasons(o)
	return hard, soft, unchecked, o.detail
}

// lookup adds the answers of qs to o: the cached ones at once; the others
// started together, then waited for, within the budget when any must be.
func (c *checker) lookup(ctx context.Context, qs []*ocspcache.Query, now time.Time, o *ocspVerdict) {
	var pending []*ocspcache.Pending // nil on the hot path
	wait := false
	for _, q := range qs {
		if q == nil {
			continue
		}
		if r, ok := c.ocsp.Cached(q, now); ok {
			o.add(r)
			continue
		}
		p := c.ocsp.Start(q, now)
		pending = append(pending, p)
		wait = wait || !p.Ready()
	}
	if wait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.budget)
		defer cancel()
	}
	for _, p := range pending {
		o.add(p.Wait(ctx))
	}
}

// ocspReasons applies the site's choices to what OCSP said: revoked
// fails; unknown and unavailable fail, or pass as soft failures.
func (p *sitePolicy) ocspReasons(o ocspVerdict) (hard, soft contract.Reason) {
	if o.revoked {
		return contract.ReasonRevoked, ""
	}
	for _, c := range []struct {
		on    bool
		allow bool
		r     contract.Reason
	}{{o.unknown, p.ocspUnknownAllow, contract.ReasonOCSPUnknown}, {o.unavailable, p.ocspUnavailableAllow, contract.ReasonOCSPUnavailable}} {
		switch {
		case c.on && !c.allow:
			return c.r, ""
		case c.on && soft == "":
			soft = c.r
		}
	}
	return "", soft
}

const pbOCSPLeaf = pb.OCSPCheck_OCSP_CHECK_LEAF
