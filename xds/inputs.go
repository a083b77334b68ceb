package xds

import (
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// What a translation reads besides the sites: the parsed CAs and encoded
// CRLs it keeps between translations, and whether a site's entry is still
// current.

// syncCAs parses the CAs whose message is new and forgets deleted ones.
func (t *Translator) syncCAs(st *store.State) {
	cas := st.CAs()
	var todo []*pb.ClientCA
	for _, ca := range cas {
		if p := t.cas[ca.GetId()]; p == nil || p.msg != ca {
			todo = append(todo, ca)
		}
	}
	parsed := make([]*parsedCA, len(todo))
	parallel(len(todo), t.workers, func(i int) { parsed[i] = parseCA(todo[i]) })
	for _, p := range parsed {
		t.cas[p.msg.GetId()] = p
	}
	if len(t.cas) > len(cas) {
		for id := range t.cas {
			if st.CA(id) == nil {
				delete(t.cas, id)
			}
		}
	}
}

// syncCRLs keeps an entry per current CRL message and reports whether the
// CRLs differ from the previous translation's.
func (t *Translator) syncCRLs(st *store.State) bool {
	crls := st.CRLs()
	changed := len(crls) != len(t.crls)
	for _, c := range crls {
		if e := t.crls[c.GetId()]; e == nil || e.msg != c {
			t.crls[c.GetId()] = &encodedCRL{msg: c}
			changed = true
		}
	}
	if len(t.crls) > len(crls) {
		for id := range t.crls {
			if st.CRL(id) == nil {
				delete(t.crls, id)
			}
		}
	}
	return changed
}

// byIssuer maps an issuer identity to the CRL Envoy may hold for it: its
// one CRL in force, when that CRL covers every certificate of the issuer.
// An issuer whose revocation is split over several CRLs (an ARL beside an
// end-entity CRL, or partitions by distribution point) maps to none:
// Envoy's validator would fail the handshake of every certificate that
// none of the CRLs it holds covers, so ext_authz alone, which picks the
// covering CRLs per certificate, checks that issuer.
func (t *Translator) byIssuer(st *store.State) map[pki.IssuerKey]*encodedCRL {
	out := map[pki.IssuerKey]*encodedCRL{}
	for _, c := range st.CRLs() {
		if !st.CRLInForce(c) {
			continue
		}
		k := store.CRLIssuerKey(c)
		if l := st.CRLsOfIssuer(k); len(l) == 1 && coversWholeIssuer(c) {
			out[k] = t.crls[c.GetId()]
		}
	}
	return out
}

// coversWholeIssuer reports whether a CRL speaks for every certificate of
// its issuer: no scope limit and no distribution point. A scope this
// version does not know (written by a newer one) is taken as a limit.
func coversWholeIssuer(c *pb.CRL) bool {
	switch c.GetScope() {
	case pb.CRLScope_CRL_SCOPE_ALL, pb.CRLScope_CRL_SCOPE_UNSPECIFIED:
		return len(c.GetDistributionPoints()) == 0
	}
	return false
}

// current reports whether e was built from the inputs s has in st. The
// CRLs are compared only when they changed since the previous
// translation: every entry was current then.
func (e *siteEntry) current(st *store.State, s *pb.Site, byIssuer map[pki.IssuerKey]*encodedCRL, crlsChanged bool) bool {
	if e.site != s {
		return false
	}
	for i, id := range s.GetCaIds() {
		if st.CA(id) != e.cas[i] {
			return false
		}
	}
	if crlsChanged {
		for i, k := range e.trust {
			if crlMsg(byIssuer[k]) != e.crls[i] {
				return false
			}
		}
	}
	return true
}

func crlMsg(c *encodedCRL) *pb.CRL {
	if c == nil {
		return nil
	}
	return c.msg
}
