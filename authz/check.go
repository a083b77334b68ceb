package authz

import (
	"context"
	"errors"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/originhdr"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

const (
	pbCRLLeaf  = pb.CRLCheck_CRL_CHECK_LEAF
	pbCRLChain = pb.CRLCheck_CRL_CHECK_CHAIN
)

// Decision is the outcome of one Check. (Its fields are ordered to pack:
// one is allocated per Check, and 160 bytes is a size class.)
type Decision struct {
	Site     string // site key; "" when unknown
	Allow    bool
	CacheHit bool
	// Uncovered: the issuer of a certificate that revocation checks has
	// CRLs in force, none of which covers it (a partition or scope not
	// uploaded), so that certificate was not checked.
	Uncovered bool
	// OCSPUnchecked: OCSP should have checked a certificate of the chain
	// that names no responder (and its CA sets none).
	OCSPUnchecked bool
	Status        uint32          // HTTP status of a denial
	Reason        contract.Reason // why it was denied, or why verification failed
	// Verify is the verify header value: SUCCESS, FAILED:<reason> or NONE
	// ("" in disabled mode).
	Verify      string
	Fingerprint string
	Subject     string
	// SoftFail: the certificate passed every check but OCSP, which gave
	// no usable answer (Reason) on a site that lets that pass: the request
	// is treated as verified, and the verify header says FAILED:<reason>.
	SoftFail bool
	// detail says why OCSP gave no usable answer (Detail); nil on the
	// hot path.
	detail *error

	set    []originhdr.Header
	remove []string
	// shared, when set, is the whole answer, shared between requests.
	shared *answer
}

// Detail says why OCSP gave no usable answer, or why no certificate was
// read from the x-forwarded-client-cert header, for the decision log; nil
// when there is nothing to say.
func (d *Decision) Detail() error {
	if d.detail == nil {
		return nil
	}
	return *d.detail
}

// explain keeps err (when not nil) as d's Detail.
func (d *Decision) explain(err error) {
	if err != nil {
		kept := err // escapes only here: the hot path allocates nothing
		d.detail = &kept
	}
}

// verifyWithout fills d's verify result for a request whose source gave
// no certificate to verify: none (NONE), a malformed XFCC header
// (FAILED:malformed), or an XFCC element with only a Hash, which a pin
// admits. It returns the verdict of the pinned certificate, or nil.
func verifyWithout(d *Decision, p *sitePolicy, in presented) *verdict {
	d.explain(in.why)
	switch {
	case in.bad:
		d.Verify, d.Reason = contract.Failed(contract.ReasonMalformed), contract.ReasonMalformed
	case in.hash == "":
		d.Verify, d.Reason = contract.VerifyNone, contract.ReasonNoCertificate
	default:
		d.Fingerprint = in.hash
		if _, pinned := p.pins[in.hash]; !pinned {
			d.Verify, d.Reason = contract.Failed(contract.ReasonUntrusted), contract.ReasonUntrusted
			return nil
		}
		// The gateway verified the handshake; the operator pinned this
		// very certificate. Nothing else of it can be checked.
		name, r := p.hashIdentity(in.hash)
		if r != "" {
			d.Verify, d.Reason = contract.Failed(r), r
			return nil
		}
		d.Verify, d.detail = contract.VerifySuccess, nil
		return &verdict{parsed: true, fp: in.hash, fields: &originhdr.Fields{Fingerprint: in.hash}, identity: name}
	}
	return nil
}

// checker is what a check uses besides the table: the verdict cache and
// OCSP, with the budget a check may wait for OCSP answers.
type checker struct {
	cache  *verdictCache
	ocsp   OCSP // nil: OCSP is not configured
	budget time.Duration
}

// decide runs the whole check for one request against table t.
func (t *Table) decide(ctx context.Context, req *authv3.CheckRequest, chk *checker, now time.Time) *Decision {
	attrs := req.GetAttributes()
	httpReq := attrs.GetRequest().GetHttp()
	if httpReq == nil {
		return deny("", 403, contract.ReasonBadRequest)
	}
	sni := extract.Host(attrs.GetTlsSession().GetSni())
	plain := attrs.GetContextExtensions()[contract.ListenerExtension] == contract.ListenerHTTP
	if plain {
		sni = ""
	}
	host := extract.Host(authority(httpReq))
	site := t.pickSite(attrs.GetContextExtensions(), sni, host)
	if site == nil {
		return deny("", 403, contract.ReasonUnknownSite)
	}
	if site.err != nil || site.names == nil || site.pool == nil {
		// Never run a half-built policy: without names nothing would be
		// stripped, and a nil pool would make x509 trust the system roots.
		return deny(site.key, 503, contract.ReasonPolicyError)
	}
	if t.weakens(site, sni, host) {
		return deny(site.key, 421, contract.ReasonSNIMismatch)
	}
	d := &Decision{Site: site.key}
	var v *verdict
	if site.mode != pb.Mode_MODE_DISABLED {
		var in presented // plain HTTP carries no certificate
		if !plain {
			in = site.presented(attrs)
		}
		v = t.verifyRequest(ctx, d, site, in, chk, now)
	}
	rule := -1
	if len(site.rules) > 0 {
		var err error
		if rule, err = site.ruleFor(httpReq.GetPath()); errors.Is(err, errAmbiguous) {
			return deny(site.key, 400, contract.ReasonAmbiguousPath).with(d)
		} else if err != nil {
			return deny(site.key, 400, contract.ReasonBadRequest).with(d)
		}
	}
	return t.finish(d, site, v, rule, now)
}

// pickSite finds the request's site: the route's context extension, else
// the SNI, else the :authority.
func (t *Table) pickSite(ext map[string]string, sni, host string) *sitePolicy {
	if key, ok := ext[contract.SiteExtension]; ok {
		return t.site(key)
	}
	if sni != "" {
		return t.lookup(sni)
	}
	return t.lookup(host)
}

// weakens reports whether the request addresses a site whose client
// certificate policy is stricter than the one its TLS handshake ran under
// (or trusts other CAs): the SNI-vs-Host bypass. A handshake whose SNI
// names no site asked for no certificate.
func (t *Table) weakens(site *sitePolicy, sni, host string) bool {
	handshake := site
	if sni != "" {
		handshake = t.lookup(sni)
	}
	for _, target := range []*sitePolicy{site, t.lookup(host)} {
		if target == nil || target == handshake || target.mode == pb.Mode_MODE_DISABLED {
			continue
		}
		if handshake == nil || target.strictness() > handshake.strictness() || target.caKey != handshake.caKey {
			return true
		}
	}
	return false
}

// presented is the client certificate of a request to p, from the site's
// certificate source.
func (p *sitePolicy) presented(attrs *authv3.AttributeContext) presented {
	if p.xfcc != nil {
		return p.xfcc.read(attrs)
	}
	return presented{encoded: attrs.GetSource().GetCertificate()}
}

// verifyRequest fills d's verify result and returns the certificate's
// verdict (nil when none was sent or it was unreadable).
func (t *Table) verifyRequest(ctx context.Context, d *Decision, p *sitePolicy, in presented, chk *checker, now time.Time) *verdict {
	if in.encoded == "" {
		return t.deniedHash(d, p, verifyWithout(d, p, in), now)
	}
	v, hit := chk.cache.verdictFor(p, in.encoded, now)
	d.CacheHit = hit
	if v.parsed {
		d.Fingerprint, d.Subject = v.fp, v.fields.Subject
	}
	reason := v.reason
	if in.hash != "" && v.parsed && in.hash != v.fp {
		reason = contract.ReasonMalformed
		d.explain(errXFCCMismatch)
	}
	if reason == "" && !p.allowExpired {
		reason = checkTime(v, now)
	}
	if reason == "" && (p.requireEKU || v.pkiless) && !v.eku {
		reason = contract.ReasonMissingEKU
	}
	if reason == "" {
		reason, d.Uncovered = t.checkRevocation(p, v, now)
	}
	if reason == "" {
		reason = t.checkDenied(d, p, v, now)
	}
	// After revocation, so that a revoked CA certificate reads as revoked.
	// Any CA certificate is refused, not only the site's anchors: one that
	// chains to them could issue certificates of its own.
	if reason == "" && v.leaf.isCA {
		reason = contract.ReasonCACertificate
	}
	if _, pinned := p.pins[v.fp]; reason == "" && len(p.pins) > 0 && !pinned {
		reason = contract.ReasonNotPinned
	}
	if reason == "" {
		reason = v.identityReason
	}
	// OCSP last: only a certificate that passed everything else may cost
	// a responder request.
	var soft contract.Reason
	if reason == "" && p.ocsp > pb.OCSPCheck_OCSP_CHECK_OFF {
		var detail error
		reason, soft, d.OCSPUnchecked, detail = t.checkOCSP(ctx, chk, p, v, now)
		d.explain(detail)
	}
	switch {
	case reason != "":
		d.Verify, d.Reason = contract.Failed(reason), reason
	case soft != "":
		d.Verify, d.Reason, d.SoftFail = contract.Failed(soft), soft, true
	default:
		d.Verify = contract.VerifySuccess
	}
	if v.reason == contract.ReasonMalformed {
		return nil
	}
	return v
}

// finish applies the mode, the access rule governing the path (the index
// of one of p.rules, -1 for none) and the headers (days_left at now).
func (t *Table) finish(d *Decision, p *sitePolicy, v *verdict, rule int, now time.Time) *Decision {
	ok := d.Verify == contract.VerifySuccess || d.SoftFail
	if p.mode == pb.Mode_MODE_ENFORCE && !ok {
		status := p.badCertStatus
		if d.Verify == contract.VerifyNone {
			status = p.noCertStatus
		}
		return deny(p.key, status, d.Reason).with(d)
	}
	identity := ""
	if ok && v != nil {
		identity = v.identity
	}
	if !p.allows(rule, ok, v, identity) {
		return deny(p.key, 403, contract.ReasonNotAllowed).with(d)
	}
	d.Allow, d.Status = true, 200
	if ok && !d.SoftFail {
		d.Reason = ""
		d.shared = v.allowedAnswer(p, identity, now)
		return d
	}
	if v == nil && (d.Verify == contract.VerifyNone || d.Verify == "") {
		d.shared = p.answerWithoutCert(d.Verify)
		return d
	}
	var fields *originhdr.Fields
	if v != nil {
		fields = v.fields
	}
	d.set, d.remove = p.names.Build(nil, nil, d.Verify, fields, identity, now)
	return d
}

// answerWithoutCert returns p's answer to an allowed request without a
// certificate (verify NONE) or on a disabled site (verify ""), built once
// per policy.
func (p *sitePolicy) answerWithoutCert(verify string) *answer {
	slot := &p.noCertAnswer
	if verify == "" {
		slot = &p.disabledAnswer
	}
	if a := slot.Load(); a != nil {
		return a
	}
	a := sharedAnswer(okResponse(p.names.Build(nil, nil, verify, nil, "", time.Time{})))
	slot.Store(a)
	return a
}

// allows applies the access rule governing the path (p.rules[rule]; -1:
// none): only a verified certificate carrying one of its names passes.
func (p *sitePolicy) allows(rule int, verified bool, v *verdict, identity string) bool {
	if rule < 0 {
		return true
	}
	if !verified {
		return false
	}
	r := &p.rules[rule]
	if identity != "" && r.Names["identity:"+identity] {
		return true
	}
	for _, n := range v.names {
		if r.Names[n] {
			return true
		}
	}
	return false
}

func deny(site string, status uint32, r contract.Reason) *Decision {
	return &Decision{Site: site, Status: status, Reason: r}
}

// with keeps what verification learnt (for logs and metrics) on a denial.
func (d *Decision) with(from *Decision) *Decision {
	d.Verify, d.Fingerprint, d.Subject, d.CacheHit = from.Verify, from.Fingerprint, from.Subject, from.CacheHit
	d.Uncovered, d.OCSPUnchecked, d.SoftFail, d.detail = from.Uncovered, from.OCSPUnchecked, from.SoftFail, from.detail
	return d
}

// authority is the request's :authority.
func authority(h *authv3.AttributeContext_HttpRequest) string {
	if h.GetHost() != "" {
		return h.GetHost()
	}
	if a := h.GetHeaders()[":authority"]; a != "" {
		return a
	}
	return h.GetHeaders()["host"]
}
