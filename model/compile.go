package model

import (
	"encoding/pem"
	"runtime"

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
		State: st, CAs: map[string]*CA{}, CRLs: map[string]*CRL{}, Sites: map[string]*Site{},
		Errors: map[store.Ref]error{}, revocation: map[pki.IssuerKey][]*CRL{},
		issuerOf: map[string]pki.IssuerKey{}, links: Links{}, checked: map[linkKey]bool{},
	}
	order := m.compileCAs(st, prev)
	m.compileLinks(order, prev)
	m.compileCRLs(st, prev, order)
	m.compileSites(st, prev)
	return m
}

// workers is how many goroutines compile new objects.
func workers() int { return runtime.GOMAXPROCS(0) }

// compileCAs parses the CAs whose message is new and returns the ids of
// those that parsed, in id order.
func (m *Model) compileCAs(st *store.State, prev *Model) []string {
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
	par.Do(len(todo), workers(), func(k int) { cas[todo[k]] = parseCA(msgs[todo[k]]) })
	var order []string
	for _, ca := range cas {
		id := ca.Msg.GetId()
		m.CAs[id] = ca
		if ca.Err != nil {
			m.Errors[store.CARef(id)] = ca.Err
			continue
		}
		order = append(order, id)
	}
	return order
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
