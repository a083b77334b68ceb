package authz

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/issuing"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// identityPolicy is what a site's policy knows of identities: the
// account's (shared by every site of a Table), which it admits, and how a
// CA-issued certificate names its identity there.
type identityPolicy struct {
	ids       *model.Identities
	admission pb.IdentityAdmission
	admitted  map[string]bool
	// pkiless maps each admitted self-signed certificate (an anchor of
	// the pool) to its identity.
	pkiless map[string]string
	// mapping is the site's own mapping, else the account's (nil: none);
	// oid is its attribute's, parsed.
	mapping *pb.IdentityMapping
	oid     asn1.ObjectIdentifier
}

// setIdentities fills p's identity policy from its model site and the
// account's identities. The self-signed certificates admitted are anchors
// of the pool already (model.Site.Certs); they also tell sites apart in
// the SNI check (caKey).
func (p *sitePolicy) setIdentities(ms *model.Site, ids *model.Identities) {
	set := ms.Msg.GetSettings()
	p.ident = identityPolicy{ids: ids, admission: set.GetIdentityAdmission(), pkiless: ms.PKILess, mapping: ids.Mapping}
	if set.GetIdentityMapping() != nil {
		p.ident.mapping = set.GetIdentityMapping()
	}
	if p.ident.admission == pb.IdentityAdmission_IDENTITY_ADMISSION_LISTED {
		p.ident.admitted = make(map[string]bool, len(set.GetAdmittedIdentities()))
		for _, n := range set.GetAdmittedIdentities() {
			p.ident.admitted[n] = true
		}
	}
	if p.ident.mapping.GetSource() == pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_ATTRIBUTE {
		p.ident.oid, _, _ = store.SubjectOID(store.SubjectOIDPrefix + p.ident.mapping.GetOid()) // validated when stored
	}
	p.caKey += p.ident.key(ms.PKILess, set.GetAdmittedIdentities())
}

// key describes what the identity policy adds to a site's trust, for the
// SNI-vs-Host check (caKey): two sites whose admitted self-signed
// certificates, admission or mapping differ do not trust the same
// certificates. "" for a site that admits by its CAs alone, unmapped.
func (ids *identityPolicy) key(pkiless map[string]string, admitted []string) string {
	if len(pkiless) == 0 && ids.admission == pb.IdentityAdmission_IDENTITY_ADMISSION_CA_ONLY && ids.mapping == nil {
		return ""
	}
	fps := make([]string, 0, len(pkiless))
	for fp := range pkiless {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	m := ids.mapping
	return fmt.Sprintf("|%s|%d|%q|%d %q %q", strings.Join(fps, ","), ids.admission, admitted, m.GetSource(), m.GetOid(), m.GetTrimPrefix())
}

// identityOf names the identity of a certificate whose chain verified
// (issuers as in the verdict): the identity it is bound to, else a pin's,
// else the one the issuing CA wrote in it, else the site's (or the
// account's) mapping's. Every one of those names is checked, not only the
// one shown: a certificate linked to a disabled identity in any of these
// ways is refused, as is an issued certificate whose identity no longer
// exists; on a site admitting listed identities, the name shown must be
// one of them.
func (p *sitePolicy) identityOf(leaf *x509.Certificate, fp string, issuerKeys []pki.IssuerKey) (string, contract.Reason) {
	ids := &p.ident
	issued := ""
	isIssued := len(issuerKeys) > 0 && !ids.ids.Issuing.IsZero() && issuerKeys[0] == ids.ids.Issuing
	if isIssued {
		issued = issuing.IdentityOf(leaf)
	}
	names := [...]string{ids.ids.Bound[fp], p.pins[fp], issued, ids.mapped(leaf)}
	for i, n := range names {
		on, exists := ids.ids.Enabled[n]
		if exists && !on || i == 2 && isIssued && !exists {
			return n, contract.ReasonIdentityDisabled
		}
	}
	name := ""
	for _, n := range names {
		if n != "" {
			name = n
			break
		}
	}
	if ids.admission == pb.IdentityAdmission_IDENTITY_ADMISSION_LISTED && !ids.admitted[name] {
		return name, contract.ReasonIdentityNotAdmitted
	}
	return name, ""
}

// check refuses name when it is a disabled identity, is no identity but
// must be one, or is not admitted.
func (ids *identityPolicy) check(name string, mustExist bool) (string, contract.Reason) {
	enabled, exists := ids.ids.Enabled[name]
	switch {
	case exists && !enabled, mustExist && !exists:
		return name, contract.ReasonIdentityDisabled
	case ids.admission == pb.IdentityAdmission_IDENTITY_ADMISSION_LISTED && !ids.admitted[name]:
		return name, contract.ReasonIdentityNotAdmitted
	}
	return name, ""
}

// mapped reads the identity the site's mapping names in c, or "": a value
// over 256 bytes, not UTF-8 or holding control characters names none.
func (ids *identityPolicy) mapped(c *x509.Certificate) string {
	var v string
	switch m := ids.mapping; m.GetSource() {
	case pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_CN:
		v = c.Subject.CommonName
	case pb.IdentitySource_IDENTITY_SOURCE_SAN_DNS:
		v = first(c.DNSNames)
	case pb.IdentitySource_IDENTITY_SOURCE_SAN_EMAIL:
		v = strings.ToLower(first(c.EmailAddresses)) // as access rules compare emails
	case pb.IdentitySource_IDENTITY_SOURCE_SAN_URI:
		if len(c.URIs) > 0 {
			v = c.URIs[0].String()
		}
	case pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_ATTRIBUTE:
		for _, a := range c.Subject.Names {
			if s, ok := a.Value.(string); ok && a.Type.Equal(ids.oid) {
				v = s // the last one, as for the common name
			}
		}
	}
	if p := ids.mapping.GetTrimPrefix(); p != "" {
		var ok bool
		if v, ok = strings.CutPrefix(v, p); !ok {
			return ""
		}
	}
	if len(v) > 256 || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return "" // as the store bounds admitted names
	}
	return v
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// identify completes the verdict of a certificate whose chain verified:
// whether it is an admitted self-signed certificate (which must then be
// the whole chain: such a certificate is no CA), and its identity.
func (p *sitePolicy) identify(v *verdict, leaf *x509.Certificate) *verdict {
	if len(v.issuers) > 0 && p.ident.pkiless[v.topFP] != "" {
		v.reason = contract.ReasonUntrusted // never reached: x509 refuses a non-CA parent
		return v
	}
	v.pkiless = len(v.issuers) == 0 && p.ident.pkiless[v.fp] != ""
	v.identity, v.identityReason = p.identityOf(leaf, v.fp, v.issuerKeys)
	return v
}

// hashIdentity names the identity of a certificate a pin admitted by its
// hash alone (an XFCC element without the certificate).
func (p *sitePolicy) hashIdentity(fp string) (string, contract.Reason) {
	if name := p.ident.ids.Bound[fp]; name != "" {
		return p.ident.check(name, false)
	}
	return p.ident.check(p.pins[fp], false)
}

// unverified sets the reason of a certificate whose chain did not verify:
// identity_disabled for a self-signed certificate the site would admit
// but for its identity being disabled (such certificates are no anchors
// then), so that the refusal says why; untrusted for any other.
func (p *sitePolicy) unverified(v *verdict, leaf *x509.Certificate, reason contract.Reason) *verdict {
	v.reason = reason
	name := p.ident.ids.Bound[v.fp]
	if reason != contract.ReasonUntrusted || name == "" || p.ident.ids.Enabled[name] || !bytes.Equal(leaf.RawSubject, leaf.RawIssuer) {
		return v
	}
	if p.ident.admission == pb.IdentityAdmission_IDENTITY_ADMISSION_ALL || p.ident.admitted[name] {
		v.reason = contract.ReasonIdentityDisabled
	}
	return v
}
