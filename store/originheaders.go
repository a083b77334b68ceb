package store

import (
	"encoding/asn1"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// OptionalHeaders are the origin header fields that are off unless a site
// names a header for them (issue 15), unlike DefaultHeaders' fields. With
// the subject_oid.OID keys (SubjectOIDPrefix) they are the other keys of
// ClientCertSettings.headers.
var OptionalHeaders = []string{"subject_cn", "subject_o", "subject_ou", "issuer_cn", "san_ip", "days_left", "fingerprint_sha1"}

// SubjectOIDPrefix starts the header keys of subject attributes named by
// OID: "subject_oid.2.5.4.5" sends the subject's serialNumber.
const SubjectOIDPrefix = "subject_oid."

const (
	// MaxSubjectOIDHeaders bounds the subject_oid.OID keys of a site.
	MaxSubjectOIDHeaders = 16
	// maxOIDLen and maxOIDArcs bound an OID of a subject_oid key.
	maxOIDLen  = 64
	maxOIDArcs = 20
)

// SubjectOID returns the OID of a subject_oid.OID header key. ok is false
// when key does not start with SubjectOIDPrefix; err says why the OID is
// refused otherwise. An OID is dotted decimal with at least two arcs, no
// leading zeros, a first arc of 0, 1 or 2 (and then a second arc below 40
// unless the first is 2), each arc below 2^31, at most 20 arcs and 64
// bytes: one spelling for each OID, and only OIDs a certificate parser
// reads.
func SubjectOID(key string) (oid asn1.ObjectIdentifier, ok bool, err error) {
	s, ok := strings.CutPrefix(key, SubjectOIDPrefix)
	if !ok {
		return nil, false, nil
	}
	if len(s) > maxOIDLen {
		return nil, true, fmt.Errorf("OID %.20q... is longer than %d bytes", s, maxOIDLen)
	}
	arcs := strings.Split(s, ".")
	if len(arcs) < 2 || len(arcs) > maxOIDArcs {
		return nil, true, fmt.Errorf("OID %q must have 2 to %d dot-separated arcs", s, maxOIDArcs)
	}
	oid = make(asn1.ObjectIdentifier, len(arcs))
	for i, a := range arcs {
		n, err := strconv.ParseUint(a, 10, 31)
		if err != nil || a[0] == '+' || len(a) > 1 && a[0] == '0' {
			return nil, true, fmt.Errorf("OID %q: arc %q is not a decimal number below 2^31 without leading zeros", s, a)
		}
		oid[i] = int(n)
	}
	if oid[0] > 2 || oid[0] < 2 && oid[1] >= 40 {
		return nil, true, fmt.Errorf("OID %q: the first arc must be 0, 1 or 2, and the second below 40 unless the first is 2", s)
	}
	return oid, true, nil
}

// IsOptionalHeader reports whether key is one of OptionalHeaders or a
// subject_oid.OID key (valid or not: SubjectOID says).
func IsOptionalHeader(key string) bool {
	return strings.HasPrefix(key, SubjectOIDPrefix) || slices.Contains(OptionalHeaders, key)
}

// headerPath is the field path of header key k in validation errors:
// headers.k, or headers["k"] for a key with dots of its own.
func headerPath(k string) string {
	if strings.Contains(k, ".") {
		return "headers[" + strconv.Quote(k) + "]"
	}
	return "headers." + k
}

// checkOptionalHeader checks an optional key (IsOptionalHeader) and counts
// the subject_oid keys in *oids.
func checkOptionalHeader(k string, oids *int) error {
	_, isOID, err := SubjectOID(k)
	if err != nil {
		return invalid(headerPath(k), "%v", err)
	}
	if isOID {
		if *oids++; *oids > MaxSubjectOIDHeaders {
			return invalid("headers", "more than %d %sOID keys", MaxSubjectOIDHeaders, SubjectOIDPrefix)
		}
	}
	return nil
}
