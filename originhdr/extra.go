package originhdr

import (
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"net/netip"
	"strconv"
	"time"
)

// The attribute types of the named subject and issuer fields.
var (
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
)

// extraOf computes the opt-in fields of leaf whose bit (field-numFields)
// is set in opt, and the subject attributes of oids; with oids nil and
// every bit of opt set, every attribute type of the subject.
func extraOf(leaf *x509.Certificate, opt uint32, oids []string) *Extra {
	on := func(field int) bool { return opt&(1<<(field-numFields)) != 0 }
	e := &Extra{}
	if on(fieldFingerprintSHA1) && len(leaf.Raw) > 0 {
		sum := sha1.Sum(leaf.Raw)
		e.FingerprintSHA1 = hex.EncodeToString(sum[:])
	}
	if on(fieldSubjectCN) {
		e.SubjectCN = attrList(leaf.Subject.Names, oidCN)
	}
	if on(fieldSubjectO) {
		e.SubjectO = attrList(leaf.Subject.Names, oidO)
	}
	if on(fieldSubjectOU) {
		e.SubjectOU = attrList(leaf.Subject.Names, oidOU)
	}
	if on(fieldIssuerCN) {
		e.IssuerCN = attrList(leaf.Issuer.Names, oidCN)
	}
	if on(fieldSANIP) {
		e.SANIP = ipList(leaf)
	}
	if on(fieldDaysLeft) && !leaf.NotAfter.IsZero() {
		e.NotAfter = leaf.NotAfter.UTC()
	}
	if oids == nil && opt == ^uint32(0) {
		for _, atv := range leaf.Subject.Names {
			oids = append(oids, atv.Type.String())
		}
	}
	for _, oid := range oids {
		if e.SubjectOID == nil {
			e.SubjectOID = make(map[string]string, len(oids))
		}
		if _, done := e.SubjectOID[oid]; !done {
			e.SubjectOID[oid] = attrListByString(leaf.Subject.Names, oid)
		}
	}
	return e
}

// attrList lists the values of the attributes of type t in names.
func attrList(names []pkix.AttributeTypeAndValue, t asn1.ObjectIdentifier) string {
	var vals []string
	for _, atv := range names {
		if atv.Type.Equal(t) {
			vals = append(vals, attrValue(atv.Value))
		}
	}
	return sanList(vals, false)
}

// attrListByString is attrList for a dotted OID.
func attrListByString(names []pkix.AttributeTypeAndValue, oid string) string {
	var vals []string
	for _, atv := range names {
		if atv.Type.String() == oid {
			vals = append(vals, attrValue(atv.Value))
		}
	}
	return sanList(vals, false)
}

// attrValue is an attribute value as text: a string as it is, anything
// else as '#' and the hex of its DER (RFC 4514 §2.4), "#" when it has no
// DER. (crypto/x509 refuses certificates whose name attributes are not
// strings; other parsers, or a hand-made Certificate, may not.)
func attrValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	der, err := asn1.Marshal(v)
	if err != nil {
		return "#"
	}
	return "#" + hex.EncodeToString(der)
}

// ipList lists the IP address SANs in canonical form; an address of
// another length than 4 or 16 bytes (which crypto/x509 refuses) is left
// out.
func ipList(leaf *x509.Certificate) string {
	var ips []string
	for _, ip := range leaf.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			ips = append(ips, a.String())
		}
	}
	return sanList(ips, false)
}

// daysLeft is the days_left value at now: the whole days (floor) from now
// to notAfter, "0" once it has passed, "" without a notAfter.
func daysLeft(notAfter, now time.Time) string {
	if notAfter.IsZero() {
		return ""
	}
	d := notAfter.Sub(now)
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64(d/(24*time.Hour)), 10)
}

// Until returns the last moment up to which Build gives for f what it
// gives at now: the zero time when that never changes (n does not send
// days_left, f has no end of validity, or days_left is 0 already). A
// caller that keeps Build's output builds it again past that moment.
func (n *Names) Until(f *Fields, now time.Time) time.Time {
	if n == nil || f == nil || f.Extra == nil || f.Extra.NotAfter.IsZero() || n.opt&(1<<(fieldDaysLeft-numFields)) == 0 {
		return time.Time{}
	}
	d := f.Extra.NotAfter.Sub(now)
	if d < 24*time.Hour {
		return time.Time{}
	}
	return f.Extra.NotAfter.Add(-(d / (24 * time.Hour)) * 24 * time.Hour)
}
