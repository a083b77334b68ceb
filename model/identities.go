package model

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Identities is what sites read of the account's identities: whom a
// certificate belongs to, whether that identity is enabled, the
// self-signed (PKI-less) certificates sites may admit, the issuing CA and
// the account's mapping. Compiled once per change of those records
// (store.State.IdentityTag) and shared, never modified.
type Identities struct {
	// Bound maps a bound certificate's fingerprint to its identity.
	Bound map[string]string
	// Enabled maps each identity's name to its enabled flag; a name not
	// in it is no identity's.
	Enabled map[string]bool
	// SelfSigned are the self-signed bound certificates of the enabled
	// identities, by identity name.
	SelfSigned map[string][]*Cert
	// Issuing is the issuer identity of the account's issuing CA (zero
	// when it has none): its certificates name their identity in a URI
	// SAN (issuing.IdentityOf).
	Issuing pki.IssuerKey
	// Mapping is the account's identity mapping (nil: none).
	Mapping *pb.IdentityMapping
	// Err is why a record could not be read (the issuing CA's
	// certificate); the records that could are compiled.
	Err error

	// parsed holds the certificates of SelfSigned by fingerprint, for
	// the next compilation to reuse.
	parsed map[string]*Cert
	tag    *byte
}

// parsedCert returns the certificate with fingerprint fp that ids parsed,
// or nil (also for a nil ids).
func (ids *Identities) parsedCert(fp string) *Cert {
	if ids == nil {
		return nil
	}
	return ids.parsed[fp]
}

// compileIdentities compiles st's identities, or returns prev's when
// none of their records changed.
func compileIdentities(st *store.State, prev *Identities) *Identities {
	if prev != nil && prev.tag == st.IdentityTag() {
		return prev
	}
	ids := &Identities{Bound: map[string]string{}, Enabled: map[string]bool{}, SelfSigned: map[string][]*Cert{},
		parsed: map[string]*Cert{}, tag: st.IdentityTag()}
	for _, id := range st.Identities() {
		ids.Enabled[id.GetName()] = id.GetEnabled()
		for _, b := range id.GetCertificates() {
			fp := b.GetSha256Fingerprint()
			ids.Bound[fp] = id.GetName()
			if !b.GetSelfSigned() || !id.GetEnabled() {
				continue
			}
			// Parsed once: a change of one identity must not cost a
			// parse of every self-signed certificate of the account.
			c := prev.parsedCert(fp)
			if c == nil {
				c = certOfPEM(b.GetCertificatePem())
			}
			if c != nil {
				ids.parsed[fp] = c
				ids.SelfSigned[id.GetName()] = append(ids.SelfSigned[id.GetName()], c)
			}
		}
	}
	if ca := st.IssuingCA(); ca != nil {
		if c := certOfPEM(ca.GetCertificatePem()); c != nil {
			ids.Issuing = c.Key
		} else {
			ids.Err = errors.New("the issuing CA's certificate cannot be read")
		}
	}
	ids.Mapping = st.AccountSettings().GetIdentityMapping()
	return ids
}

// certOfPEM parses one stored certificate (validated when stored), or nil.
func certOfPEM(s string) *Cert {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil
	}
	return &Cert{X509: c, Fingerprint: pki.Fingerprint(c.Raw), Key: pki.IssuerKeyOf(c), SelfSigned: true, PEM: s}
}

// Admitted returns the self-signed certificates a site's settings admit,
// sorted by fingerprint, with the identity each is bound to.
func (ids *Identities) Admitted(set *pb.ClientCertSettings) ([]*Cert, map[string]string) {
	var names []string
	switch set.GetIdentityAdmission() {
	case pb.IdentityAdmission_IDENTITY_ADMISSION_ALL:
		for n := range ids.SelfSigned {
			names = append(names, n)
		}
	case pb.IdentityAdmission_IDENTITY_ADMISSION_LISTED:
		names = set.GetAdmittedIdentities()
	default:
		return nil, nil
	}
	var certs []*Cert
	owner := map[string]string{}
	for _, n := range names {
		for _, c := range ids.SelfSigned[n] {
			certs = append(certs, c)
			owner[c.Fingerprint] = n
		}
	}
	slices.SortFunc(certs, func(a, b *Cert) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return certs, owner
}
