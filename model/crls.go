package model

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/mtlsgate/mtlsgate/internal/par"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
	"github.com/mtlsgate/mtlsgate/store"
)

// compileCRLs places every CRL in force: parsed and verified (once per
// message) by a CA certificate of its issuer identity, and indexed by
// that identity in id order. order are the ids of the CAs that parsed.
func (m *Model) compileCRLs(st *store.State, prev *Model, order []string) {
	byKey := map[pki.IssuerKey][]*x509.Certificate{}
	for _, id := range order {
		for _, c := range m.CAs[id].Certs {
			byKey[c.Key] = append(byKey[c.Key], c.X509)
		}
	}
	var crls []*CRL
	var todo []int
	for _, msg := range st.CRLs() {
		c := &CRL{Msg: msg, Issuer: store.CRLIssuerKey(msg)}
		switch {
		case c.Issuer.IsZero():
			c.Err = fmt.Errorf("the identity of issuer %s is unknown (its CA certificate is gone): upload the CRL again", msg.GetIssuer())
		case !st.CRLInForce(msg):
			continue // superseded by a newer CRL of the same issuer, scope and partition
		case len(byKey[c.Issuer]) == 0:
			c.Err = fmt.Errorf("issuer %s is in no client CA", msg.GetIssuer())
		default:
			if old := prev.CRLs[msg.GetId()]; old != nil && old.Msg == msg && old.Err == nil {
				c = old
			} else {
				todo = append(todo, len(crls))
			}
		}
		crls = append(crls, c)
	}
	par.Do(len(todo), workers(), func(k int) {
		c := crls[todo[k]]
		c.Set, c.Err = parseWithAny(c.Msg.GetDer(), byKey[c.Issuer])
	})
	for _, c := range crls { // in id order: st.CRLs() is sorted
		m.CRLs[c.Msg.GetId()] = c
		if c.Err != nil {
			m.Errors[store.CRLRef(c.Msg.GetId())] = c.Err
			continue
		}
		m.revocation[c.Issuer] = append(m.revocation[c.Issuer], c)
	}
}

// parseWithAny parses a CRL verified by the first of issuers (certificates
// of one identity) that crlset accepts as its signer: they share the key,
// but one may lack the cRLSign key usage another has.
func parseWithAny(der []byte, issuers []*x509.Certificate) (*crlset.Set, error) {
	var err error
	for _, c := range issuers {
		var set *crlset.Set
		if set, err = crlset.ParseVerified(der, c); err == nil {
			return set, nil
		}
	}
	return nil, err
}

// PEM returns the CRL's PEM encoding, made on first use (most CRLs never
// reach Envoy, and a large one is tens of megabytes of PEM) and kept with
// the CRL.
func (c *CRL) PEM() string {
	c.pemOnce.Do(func() { c.pem = string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.Msg.GetDer()})) })
	return c.pem
}
