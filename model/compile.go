package model

import (
	"encoding/pem"
	"runtime"
	"slices"

	"github.com/mtlsgate/mtlsgate/internal/par"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Compile compiles st, reusing from prev (nil: none) every CA, CRL,
// signature check and site whose inputs are the same messages. New CAs,
// CRLs and sites are compiled on up to GOMAXPROCS goroutines; the result
// does not depend on scheduling.
func Compile(st *store.State, prev *Model) *Model {
	if prev == nil {
		prev = &Model{}
	}
	m := &Model{
		State: st, CRLs: map[string]*CRL{},
		Errors: map[store.Ref]error{}, revocation: map[pki.IssuerKey][]*CRL{},
		issuerOf: map[string]pki.IssuerKey{}, links: Links{}, checked: map[linkKey]bool{},
	}
	casChanged := m.compileCAs(st, prev)
	// Most changes touch sites alone: the links and CRLs of the previous
	// model then stand as they are (both are immutable and shared).
	linksStale := casChanged || prev.links == nil // nil: no previous model
	crlsStale := casChanged || !sameCRLs(st, prev.State)
	var order []string
	if linksStale || crlsStale {
		order = m.caOrder()
	}
	if linksStale {
		m.compileLinks(order, prev)
		m.compileIssuers(order)
	} else {
		m.links, m.issuerOf, m.checked, m.issuers = prev.links, prev.issuerOf, prev.checked, prev.issuers
	}
	if crlsStale {
		m.compileCRLs(st, prev, order)
	} else {
		m.CRLs, m.revocation = prev.CRLs, prev.revocation
		for id, c := range m.CRLs {
			if c.Err != nil {
				m.Errors[store.CRLRef(id)] = c.Err
			}
		}
	}
	m.Identities = compileIdentities(st, prev.Identities)
	if m.Identities.Err != nil {
		m.Errors[store.IssuingCARef] = m.Identities.Err
	}
	m.compileSites(st, prev, casChanged)
	return m
}

// sameCRLs reports whether st holds exactly the CRL messages of prev
// (nil: none compiled).
func sameCRLs(st, prev *store.State) bool {
	if prev == nil {
		return false
	}
	crls := st.CRLs()
	if len(crls) != len(prev.CRLs()) {
		return false
	}
	for _, c := range crls {
		if prev.CRL(c.GetId()) != c {
			return false
		}
	}
	return true
}

// workers is how many goroutines compile new objects.
func workers() int { return runtime.GOMAXPROCS(0) }

// compileCAs parses the CAs whose message is new and reports whether any
// CA differs from prev's; when none does, the model shares prev's CAs.
func (m *Model) compileCAs(st *store.State, prev *Model) bool {
	msgs := st.CAs()
	cas := make([]*CA, len(msgs))
	var todo []int
	for i, msg := range msgs {
		if old := prev.CAs[msg.GetId()]; old != nil && old.Msg == msg {
			cas[i] = old
		} else {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 && len(msgs) == len(prev.CAs) {
		m.CAs = prev.CAs // immutable: shared
		for id, ca := range m.CAs {
			if ca.Err != nil {
				m.Errors[store.CARef(id)] = ca.Err
			}
		}
		return false
	}
	par.Do(len(todo), workers(), func(k int) { cas[todo[k]] = parseCA(msgs[todo[k]]) })
	m.CAs = make(map[string]*CA, len(msgs))
	for _, ca := range cas {
		m.CAs[ca.Msg.GetId()] = ca
		if ca.Err != nil {
			m.Errors[store.CARef(ca.Msg.GetId())] = ca.Err
		}
	}
	return true
}

// caOrder returns the ids of the CAs that parsed, in id order: the order
// links and CRL issuers are considered in.
func (m *Model) caOrder() []string {
	var ids []string
	for id, ca := range m.CAs {
		if ca.Err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// parseCA parses a CA's bundle.
func parseCA(msg *pb.ClientCA) *CA {
	certs, err := pki.ParseCertificates([]byte(msg.GetBundlePem()))
	if err != nil {
		return &CA{Msg: msg, Err: err}
	}
	ca := &CA{Msg: msg, Certs: make([]*Cert, len(certs))}
	for i, c := range certs {
		ca.Certs[i] = &Cert{X509: c, Fingerprint: pki.Fingerprint(c.Raw), Key: pki.IssuerKeyOf(c),
			SelfSigned: pki.SelfSigned(c), PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))}
	}
	return ca
}
