package store

import (
	"crypto/x509"
	"slices"
	"strings"

	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The CRL index of a State: which CRL is in force for each issuer, scope
// and partition, and the completion of CRL records older versions wrote.

// crlSlot is what one CRL is in force for: an issuer identity, a scope and
// a partition (the issuing distribution point's URIs). An issuer may
// publish a CRL for end-entity certificates and another for CAs (an ARL),
// or split its certificates over several partitioned CRLs; each has its
// own slot, and an upload replaces only the CRL of its slot.
type crlSlot struct {
	issuer pki.IssuerKey
	// scope is never unspecified: a record whose scope cannot be read
	// (stored before scopes were recorded, DER unreadable) counts as all.
	scope pb.CRLScope
	// partition is the distribution point URIs joined by newlines (URIs
	// hold none); "" when the CRL names no distribution point.
	partition string
}

// slotOf returns the slot of a CRL message; its issuer is zero when the
// issuer identity is unknown.
func slotOf(c *pb.CRL) crlSlot {
	scope := c.GetScope()
	if scope == pb.CRLScope_CRL_SCOPE_UNSPECIFIED {
		scope = pb.CRLScope_CRL_SCOPE_ALL
	}
	return crlSlot{issuer: CRLIssuerKey(c), scope: scope, partition: strings.Join(c.GetDistributionPoints(), "\n")}
}

// slotCRLs are the CRLs of one slot: one, unless a store written by an
// older version (which keyed CRLs by certificate) holds several.
type slotCRLs struct {
	ids     []string // sorted
	inForce *pb.CRL  // the one that applies (see preferCRL)
}

// crlOfSlot returns the CRL in force for a slot, or nil. Of several CRLs of
// one slot (stored by an older version), the newest by the replacement
// rule of CreateCRL is in force; the others are ignored until the next
// upload for the slot replaces them all.
func (s *State) crlOfSlot(k crlSlot) *pb.CRL {
	if e := s.crlSlots[k]; e != nil {
		return e.inForce
	}
	return nil
}

// CRLsOfIssuer returns the CRLs in force for an issuer identity, one per
// scope and partition, sorted by id. The slice is shared: do not modify it.
func (s *State) CRLsOfIssuer(k pki.IssuerKey) []*pb.CRL { return s.crlIssuers[k] }

// CRLInForce reports whether c is the CRL in force for its issuer, scope
// and partition: a CRL consumers apply. A CRL without a known issuer
// identity is not.
func (s *State) CRLInForce(c *pb.CRL) bool {
	k := slotOf(c)
	return !k.issuer.IsZero() && s.crlOfSlot(k) == c
}

// crlIDsOfSlot returns the sorted ids of every CRL of a slot.
func (s *State) crlIDsOfSlot(k crlSlot) []string {
	if e := s.crlSlots[k]; e != nil {
		return e.ids
	}
	return nil
}

// indexCRLs rebuilds crlSlots and crlIssuers from the CRLs.
func (s *State) indexCRLs() {
	idx := map[crlSlot]*slotCRLs{}
	for _, c := range s.CRLs() { // sorted by id, so ids come sorted
		k := slotOf(c)
		if k.issuer.IsZero() {
			continue
		}
		e := idx[k]
		if e == nil {
			e = &slotCRLs{}
			idx[k] = e
		}
		e.ids = append(e.ids, c.GetId())
		if e.inForce == nil || preferCRL(c, e.inForce) {
			e.inForce = c
		}
	}
	byIssuer := map[pki.IssuerKey][]*pb.CRL{}
	for k, e := range idx {
		byIssuer[k.issuer] = append(byIssuer[k.issuer], e.inForce)
	}
	for _, l := range byIssuer {
		slices.SortFunc(l, func(a, b *pb.CRL) int { return strings.Compare(a.GetId(), b.GetId()) })
	}
	s.crlSlots, s.crlIssuers = idx, byIssuer
}

// completeLegacyCRLs completes CRL messages stored by an older version:
// their issuer identity (fillIssuerKey) and what they cover (scope and
// distribution points, read from the DER without its entries). crls must
// be private to the caller.
func completeLegacyCRLs(st *State, crls []*pb.CRL) {
	fillIssuerKeys(st, crls)
	for _, c := range crls {
		if c.GetScope() != pb.CRLScope_CRL_SCOPE_UNSPECIFIED {
			continue
		}
		if scope, dps, err := crlset.ReadCoverage(c.GetDer()); err == nil {
			c.Scope, c.DistributionPoints = crlScopeOf(scope), dps
		}
	}
}

// crlScopeOf is the API's name for a crlset scope.
func crlScopeOf(s crlset.Scope) pb.CRLScope {
	switch s {
	case crlset.ScopeUserCerts:
		return pb.CRLScope_CRL_SCOPE_USER_CERTS
	case crlset.ScopeCACerts:
		return pb.CRLScope_CRL_SCOPE_CA_CERTS
	}
	return pb.CRLScope_CRL_SCOPE_ALL
}

// fillIssuerKeys completes CRL messages stored by an older version, which
// keyed a CRL by one CA certificate (issuer_sha256_fingerprint) and did
// not record the issuer's identity: the identity is that certificate's
// subject and key. When that certificate is gone (which the older version
// never left behind: it deleted such CRLs), the CRL stays without identity
// and applies nowhere; consumers report it. crls must be private to the
// caller.
func fillIssuerKeys(st *State, crls []*pb.CRL) {
	var certs []*x509.Certificate
	parsed := false
	for _, c := range crls {
		if !CRLIssuerKey(c).IsZero() {
			continue
		}
		if !parsed {
			certs, parsed = allCACertificates(st), true
		}
		if k, ok := legacyIssuerKey(c, certs); ok {
			c.IssuerNameDer, c.IssuerSpkiSha256 = []byte(k.Name), k.SPKI
		}
	}
}

// legacyIssuerKey finds the identity of an old CRL message's issuer: the
// subject and key of the certificate it was bound to, whose key verified
// the CRL when it was uploaded.
func legacyIssuerKey(c *pb.CRL, certs []*x509.Certificate) (pki.IssuerKey, bool) {
	for _, cert := range certs {
		if pki.Fingerprint(cert.Raw) == c.GetIssuerSha256Fingerprint() {
			return pki.IssuerKeyOf(cert), true
		}
	}
	return pki.IssuerKey{}, false
}

// allCACertificates parses every certificate of every CA, in CA id order;
// a CA that does not parse is skipped (its consumers report it).
func allCACertificates(st *State) []*x509.Certificate {
	var out []*x509.Certificate
	for _, ca := range st.CAs() {
		if certs, err := pki.ParseCertificates([]byte(ca.GetBundlePem())); err == nil {
			out = append(out, certs...)
		}
	}
	return out
}
