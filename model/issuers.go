package model

import (
	"crypto/x509"

	"github.com/mtlsgate/mtlsgate/pki"
)

// Issuer is what the model holds of one issuer identity for OCSP: a
// certificate of it, which OCSP requests and answers are about and
// verified by, and the OCSP settings of its CA.
type Issuer struct {
	// Cert is its first certificate, by CA id then bundle order.
	Cert *x509.Certificate
	// OCSPURL is the responder the operator set for the certificates it
	// issues ("": the one each names), and OCSPNonce whether to send it
	// nonces: from the first CA, by id, holding the identity that sets
	// either.
	OCSPURL   string
	OCSPNonce bool
}

// Issuer returns what the model holds of an issuer identity, or nil when
// no uploaded CA certificate has it.
func (m *Model) Issuer(k pki.IssuerKey) *Issuer { return m.issuers[k] }

// compileIssuers indexes every parsed CA certificate by issuer identity.
// order are the ids of the CAs that parsed, in id order.
func (m *Model) compileIssuers(order []string) {
	m.issuers = map[pki.IssuerKey]*Issuer{}
	for _, id := range order {
		ca := m.CAs[id]
		set := ca.Msg.GetOcspUrl() != "" || ca.Msg.GetOcspNonce()
		for _, c := range ca.Certs {
			is := m.issuers[c.Key]
			if is == nil {
				is = &Issuer{Cert: c.X509}
				m.issuers[c.Key] = is
			}
			if set && is.OCSPURL == "" && !is.OCSPNonce {
				is.OCSPURL, is.OCSPNonce = ca.Msg.GetOcspUrl(), ca.Msg.GetOcspNonce()
			}
		}
	}
}
