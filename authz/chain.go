package authz

import (
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
// are checked once, when the model is compiled (model.Links), and a miss
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

// issuerLinks maps a certificate to the certificates of the site that
// issued it (model.Links).
type issuerLinks map[*x509.Certificate][]*x509.Certificate

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
		if pki.SameEntity(c, iss) {
			return false
		}
	}
	if len(iss.UnhandledCriticalExtensions) > 0 || at.Before(iss.NotBefore) || at.After(iss.NotAfter) {
		return false
	}
	intermediates := len(chain) - 1
	return !iss.BasicConstraintsValid || iss.MaxPathLen < 0 || intermediates <= iss.MaxPathLen
}
