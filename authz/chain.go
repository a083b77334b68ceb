package authz

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"time"

	"github.com/mtlsgate/mtlsgate/pki"
)

// Chain building.
//
// Every certificate assigned to a site is a trust anchor, so trust in a
// leaf is settled by one link: the leaf's signature by one of the site's
// certificates. ext_authz asks crypto/x509 for exactly that (the site's
// certificates as Roots, no Intermediates), which costs one signature check
// per candidate issuer plus Go's leaf, name-constraint and policy checks.
//
// The longest chain is still wanted: in chain revocation mode an
// intermediate's issuer's CRL can revoke the intermediate. The links
// between CA certificates do not depend on the leaf, so their signatures
// are checked once, when the policy is compiled (issuerLinks), and a miss
// only walks them (extend). Passing the pool as Roots and Intermediates
// instead made Go build and signature-check every chain through it on every
// miss: about seven ECDSA checks per leaf where one is needed.
//
// An extension never grants trust (the anchor at its bottom already did);
// it only adds certificates whose expiry and revocation are then checked.
// It follows Go's rules for the certificates it adds (validity at the
// verification time, no unhandled critical extension, CA basic constraints
// and path length), except name constraints and certificate policies, which
// only restrict the names a chain may vouch for; an extension Go would have
// refused for those reasons can only make a request stricter, never looser.

// maxLinkVisits bounds the links one extension may follow, whatever the
// shape of the site's CA graph (cross-signed certificates form a DAG with
// many paths). Go bounds its own chain building the same way.
const maxLinkVisits = 64

// linkKey is one (child, issuer) pair of CA certificates.
type linkKey struct{ child, issuer *x509.Certificate }

// issuerLinks maps a certificate to the certificates, among all uploaded
// CAs, that issued it: same name and a signature that verifies.
type issuerLinks map[*x509.Certificate][]*x509.Certificate

// compileLinks checks the signature of every CA certificate by every other
// one named as its issuer, reusing prev's answers for pairs it already
// checked (certificate objects are reused while their CA is unchanged).
func (t *Table) compileLinks(order []string, prev *Table) {
	bySubject := map[string][]*x509.Certificate{}
	for _, id := range order {
		for _, c := range t.cas[id].certs {
			bySubject[string(c.RawSubject)] = append(bySubject[string(c.RawSubject)], c)
		}
	}
	t.links, t.checked, t.issuerOf = issuerLinks{}, map[linkKey]bool{}, map[string]pki.IssuerKey{}
	for _, id := range order {
		ca := t.cas[id]
		for i, c := range ca.certs {
			if ca.selfSigned[i] {
				t.issuerOf[ca.fps[i]] = ca.keys[i]
			}
			for _, iss := range bySubject[string(c.RawIssuer)] {
				if sameEntity(iss, c) {
					continue // self-signed, or a re-issue of itself: no link
				}
				k := linkKey{c, iss}
				ok, seen := prev.checked[k]
				if !seen {
					ok = c.CheckSignatureFrom(iss) == nil
				}
				t.checked[k] = ok
				if ok {
					t.links[c] = append(t.links[c], iss)
					if _, known := t.issuerOf[ca.fps[i]]; !known {
						t.issuerOf[ca.fps[i]] = pki.IssuerKeyOf(iss)
					}
				}
			}
		}
	}
}

// siteLinks restricts links to the certificates of one site.
func siteLinks(all issuerLinks, certs []*x509.Certificate) issuerLinks {
	in := make(map[*x509.Certificate]bool, len(certs))
	for _, c := range certs {
		in[c] = true
	}
	var out issuerLinks
	for _, c := range certs {
		for _, iss := range all[c] {
			if in[iss] {
				if out == nil {
					out = issuerLinks{}
				}
				out[c] = append(out[c], iss)
			}
		}
	}
	return out
}

// extend returns the longest chain continuing chain (leaf first, ending at
// an anchor) upward through the site's links, at the verification time at.
// A chain that is the leaf alone (the leaf is itself assigned) is not
// extended, as Go does not extend it either.
func (p *sitePolicy) extend(chain []*x509.Certificate, at time.Time) []*x509.Certificate {
	if len(chain) < 2 || len(p.links) == 0 {
		return chain
	}
	visits := maxLinkVisits
	return p.links.walk(chain, at, &visits)
}

// walk is extend's depth-first search; the first longest chain found wins,
// in the order links were compiled (CA id, then bundle order).
func (l issuerLinks) walk(chain []*x509.Certificate, at time.Time, visits *int) []*x509.Certificate {
	best := chain
	top := chain[len(chain)-1]
	if !top.BasicConstraintsValid || !top.IsCA {
		return best // top would become an intermediate, which must be a CA
	}
	for _, iss := range l[top] {
		if *visits == 0 {
			break
		}
		*visits--
		if !canAppend(chain, iss, at) {
			continue
		}
		next := make([]*x509.Certificate, len(chain), len(chain)+1)
		copy(next, chain)
		if c := l.walk(append(next, iss), at, visits); len(c) > len(best) {
			best = c
		}
	}
	return best
}

// canAppend applies Go's per-certificate chain rules to iss as the new top
// of chain (leaf first): its entity not already in it, no unhandled
// critical extension, valid at at, and a path length that allows the
// intermediates below it.
func canAppend(chain []*x509.Certificate, iss *x509.Certificate, at time.Time) bool {
	for _, c := range chain {
		if sameEntity(c, iss) {
			return false
		}
	}
	if len(iss.UnhandledCriticalExtensions) > 0 || at.Before(iss.NotBefore) || at.After(iss.NotAfter) {
		return false
	}
	intermediates := len(chain) - 1
	return !iss.BasicConstraintsValid || iss.MaxPathLen < 0 || intermediates <= iss.MaxPathLen
}

// sameEntity reports whether a and b are the same CA as far as a chain is
// concerned: same subject and same key, as crypto/x509 decides when it
// refuses to revisit a certificate. Re-issued and cross-signed copies of a
// CA are the same entity, so cross-signing loops end.
func sameEntity(a, b *x509.Certificate) bool {
	if !bytes.Equal(a.RawSubject, b.RawSubject) {
		return false
	}
	k, ok := a.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b.PublicKey)
}
