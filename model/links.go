package model

import (
	"crypto/x509"

	"github.com/mtlsgate/mtlsgate/pki"
)

// Links maps a CA certificate to the CA certificates that issued it: same
// name, a signature that verifies, and not the same entity
// (pki.SameEntity: a re-issue of itself is no link). A certificate's
// issuers are in CA id, then bundle order. The signatures are checked
// once per pair of certificate objects, so a verifier only walks them.
type Links map[*x509.Certificate][]*x509.Certificate

// linkKey is one (child, issuer) pair of CA certificates.
type linkKey struct{ child, issuer *x509.Certificate }

// compileLinks checks the signature of every CA certificate of order (CA
// ids) by every other one named as its issuer, reusing prev's answers for
// pairs it already checked (certificate objects are reused while their CA
// message is unchanged), and records each certificate's issuer identity.
func (m *Model) compileLinks(order []string, prev *Model) {
	bySubject := map[string][]*x509.Certificate{}
	for _, id := range order {
		for _, c := range m.CAs[id].Certs {
			bySubject[string(c.X509.RawSubject)] = append(bySubject[string(c.X509.RawSubject)], c.X509)
		}
	}
	for _, id := range order {
		for _, c := range m.CAs[id].Certs {
			if c.SelfSigned {
				m.issuerOf[c.Fingerprint] = c.Key
			}
			for _, iss := range bySubject[string(c.X509.RawIssuer)] {
				if iss != c.X509 {
					m.link(c, iss, prev)
				}
			}
		}
	}
}

// link records iss as an issuer of c when it is another entity (a
// re-issue of c is no link) whose key verifies c.
func (m *Model) link(c *Cert, iss *x509.Certificate, prev *Model) {
	k := linkKey{c.X509, iss}
	ok, seen := prev.checked[k]
	if !seen {
		ok = !pki.SameEntity(iss, c.X509) && c.X509.CheckSignatureFrom(iss) == nil
	}
	m.checked[k] = ok
	if !ok {
		return
	}
	m.links[c.X509] = append(m.links[c.X509], iss)
	if _, known := m.issuerOf[c.Fingerprint]; !known {
		m.issuerOf[c.Fingerprint] = pki.IssuerKeyOf(iss)
	}
}

// among restricts the links to certs: the links of one site.
func (l Links) among(certs []*Cert) Links {
	in := make(map[*x509.Certificate]bool, len(certs))
	for _, c := range certs {
		in[c.X509] = true
	}
	var out Links
	for _, c := range certs {
		if out[c.X509] != nil {
			continue // listed twice
		}
		for _, iss := range l[c.X509] {
			if in[iss] {
				if out == nil {
					out = Links{}
				}
				out[c.X509] = append(out[c.X509], iss)
			}
		}
	}
	return out
}
