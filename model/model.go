// Package model is what the operator configured, compiled once per store
// State for the two faces that serve it: parsed client CA certificates and
// the verified links between them, the CRLs in force parsed and checked
// against their issuers, and each site's effective settings with one error.
// authz translates a Model into the policy Check reads, xds into Envoy
// resources; neither parses a certificate or a CRL itself, so both see the
// same certificates, the same revocation data and the same errors.
//
// A Model is immutable once Compile returns it: consumers keep pointers
// into it as long as they like, from any goroutine. Compile is incremental
// by message identity (a State's messages are immutable, and an unchanged
// object keeps its message in the next State): a CA is parsed, a CRL
// parsed and verified, a CA-to-CA signature checked and a site compiled
// once per message, and an unchanged site keeps its *Site, which consumers
// may then compare by pointer to reuse what they built from it.
//
// docs/architecture.md shows where the model sits; this file documents
// every field.
package model

import (
	"crypto/x509"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/originhdr"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Model is the compiled configuration at one store revision.
type Model struct {
	// State is the store State the model was compiled from. Consumers read
	// from it what the model does not hold (Envoy nodes and their
	// revocations, the internal CA).
	State *store.State
	// CAs are every client CA by id: its parsed certificates, or why its
	// bundle could not be parsed.
	CAs map[string]*CA
	// CRLs are the CRLs in force by id (one per issuer identity, scope and
	// partition: store.State.CRLInForce), each with its revocation set or
	// why it has none. Superseded CRLs are not in the model.
	CRLs map[string]*CRL
	// Errors are why objects could not be compiled, by object: the CAs,
	// CRLs and sites whose Err is set. Consumers report them.
	Errors map[store.Ref]error
	// Identities are the account's identities as sites read them.
	Identities *Identities

	// list is every site ("*.example.com" included) in hostname order.
	list []*Site
	// revocation maps an issuer identity to its CRLs in force that parsed
	// and verified, in id order.
	revocation map[pki.IssuerKey][]*CRL
	// issuerOf maps the fingerprint of each CA certificate to the identity
	// of its issuer, when known: itself when self-signed, else the first
	// CA certificate (by CA id, then bundle order) whose key verifies it.
	issuerOf map[string]pki.IssuerKey
	// issuers maps every issuer identity of an uploaded CA certificate to
	// a certificate of it and its CA's OCSP settings (issuers.go).
	issuers map[pki.IssuerKey]*Issuer
	// links are the verified issuer links among every CA certificate;
	// checked remembers the outcome of every CA-to-CA signature checked,
	// for the next compilation.
	links   Links
	checked map[linkKey]bool
}

// Rev is the store revision the model was compiled from.
func (m *Model) Rev() int64 { return m.State.Rev }

// SiteList returns every site ("*.example.com" included) in hostname
// order. The slice is the model's: do not modify it.
func (m *Model) SiteList() []*Site { return m.list }

// Site returns the site with that hostname, exactly as stored, or nil.
func (m *Model) Site(host string) *Site {
	i, ok := slices.BinarySearchFunc(m.list, host, func(s *Site, h string) int { return strings.Compare(s.Host, h) })
	if !ok {
		return nil
	}
	return m.list[i]
}

// Revocation returns the CRLs in force of an issuer identity that parsed
// and verified, in id order: at most one per scope and partition. A
// certificate is checked against each that covers it (crlset.Set.Covers).
func (m *Model) Revocation(issuer pki.IssuerKey) []*CRL { return m.revocation[issuer] }

// SoleCRL returns the CRL of an issuer identity when it is the issuer's
// only CRL in force, it parsed and verified, and it covers every
// certificate of the issuer (no scope limit, no distribution point): the
// CRL a verifier that wants one CRL per issuer (Envoy) may hold. Nil
// otherwise.
func (m *Model) SoleCRL(issuer pki.IssuerKey) *CRL {
	l := m.revocation[issuer]
	if len(l) != 1 || len(m.State.CRLsOfIssuer(issuer)) != 1 || !l[0].Whole() {
		return nil
	}
	return l[0]
}

// IssuerOf returns the issuer identity of the CA certificate with that
// fingerprint (zero when its issuer is not among the uploaded CAs): the
// CRLs of the top of a chain are found through it.
func (m *Model) IssuerOf(fingerprint string) pki.IssuerKey { return m.issuerOf[fingerprint] }

// Cert is one parsed CA certificate.
type Cert struct {
	// X509 is the certificate. One *x509.Certificate is shared by every
	// site and by the next models while its CA message is unchanged.
	X509 *x509.Certificate
	// Fingerprint is the lowercase hex SHA-256 of its DER.
	Fingerprint string
	// Key is its identity as an issuer (name and key): the CRLs it signs
	// are found by it.
	Key pki.IssuerKey
	// SelfSigned: its subject is its issuer and its own key verifies it.
	SelfSigned bool
	// PEM is its PEM block.
	PEM string
}

// CA is one client CA.
type CA struct {
	// Msg is the stored CA.
	Msg *pb.ClientCA
	// Certs are its bundle's certificates, in bundle order; nil when Err.
	Certs []*Cert
	// Err is why the bundle could not be parsed.
	Err error
}

// CRL is one CRL in force.
type CRL struct {
	// Msg is the stored CRL.
	Msg *pb.CRL
	// Issuer is the identity of its issuer (store.CRLIssuerKey).
	Issuer pki.IssuerKey
	// Set is its revocation set, parsed and verified by a CA certificate
	// of its issuer; nil when Err.
	Set *crlset.Set
	// Err is why it could not be used: its issuer is unknown or in no
	// client CA, or it failed to parse or verify.
	Err error

	pemOnce sync.Once
	pem     string
}

// Stale reports whether the CRL is past its nextUpdate at now.
func (c *CRL) Stale(now time.Time) bool {
	nu := c.Set.NextUpdate()
	return !nu.IsZero() && now.After(nu)
}

// Whole reports whether the CRL speaks for every certificate of its
// issuer: no scope limit and no distribution point. A scope this version
// does not know (written by a newer one) is taken as a limit.
func (c *CRL) Whole() bool {
	switch c.Msg.GetScope() {
	case pb.CRLScope_CRL_SCOPE_ALL, pb.CRLScope_CRL_SCOPE_UNSPECIFIED:
		return len(c.Msg.GetDistributionPoints()) == 0
	}
	return false
}

// Site is one site's compiled configuration. When Err is set only Msg,
// Host and Err are: the site must fail closed.
type Site struct {
	// Msg is the stored site; its settings are the effective ones (the
	// store fills in defaults when it stores them).
	Msg *pb.Site
	// Host is its hostname.
	Host string
	// CAs are its assigned CAs, in the site's order.
	CAs []*CA
	// Certs are every certificate of its CAs, in CA then bundle order, as
	// assigned (a certificate in two CAs appears twice): each is a trust
	// anchor.
	Certs []*Cert
	// Trust is the set of its CAs' certificates as one verifier holds it.
	Trust *Trust
	// Links are the verified issuer links among Certs (see Links).
	Links Links
	// Names are the origin header names of its settings.
	Names *originhdr.Names
	// Rules are its access rules, with canonical prefixes.
	Rules []Rule
	// Pins map a pinned certificate's fingerprint to its identity name.
	Pins map[string]string
	// PKILess maps the fingerprint of each self-signed certificate the
	// site admits through an identity (also in Certs and Trust) to that
	// identity's name.
	PKILess map[string]string
	// Origin is where its requests go.
	Origin Origin
	// Err is why the site could not be compiled.
	Err error

	// cas are the CA entries it was compiled with, by position of its
	// CA ids (nil: missing), to decide reuse.
	cas []*CA
}

// Trust is a site's certificates deduplicated: sorted by fingerprint, with
// their issuer identities (same index), their PEM, and whether the set is
// closed.
type Trust struct {
	Certs []*Cert
	// Keys are the issuer identities of Certs, same index.
	Keys []pki.IssuerKey
	// PEM is every certificate's PEM, in order.
	PEM string
	// Closed: every certificate is self-signed or issued (name and
	// signature) by another of the set.
	Closed bool
}

// Rule is an access rule with its canonical path prefix.
type Rule struct {
	// Prefix is the canonical prefix (store.RulePrefix); Folded is it in
	// lower case.
	Prefix, Folded string
	// Names are the names it admits, each as "kind:value" with kind one of
	// subject (the RFC 2253 string of the subject), dns, uri, email and
	// identity (a pin's identity name).
	Names map[string]bool
}

// Origin is a site's origin server.
type Origin struct {
	Host string
	Port uint32
	// TLS: the origin is reached over https.
	TLS bool
}
