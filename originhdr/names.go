// Package originhdr builds the headers mtlsgate's ext_authz server sends to
// the origin: the verification result and the facts of the client
// certificate, under the header names each site configures.
//
// The work is split by lifetime. Names (the header names of one site and its
// certificate encoding) is built once per policy; Fields (the header values
// derived from one certificate) is computed once per certificate and cached
// by the caller; Build, which runs on every request, only picks values and
// appends them to caller-owned slices, and allocates nothing when those
// slices have room.
//
// Every value Build emits is a valid HTTP field value: non-empty, valid
// UTF-8, without control characters (bytes below 0x20 and 0x7f) and without
// leading or trailing spaces, so that nothing taken from a certificate can
// end a header line early or inject another one. See Fields for the exact
// format of each value.
//
// The header names are half of the contract between mtlsgate's Check
// server and the Envoy configuration its xDS server writes (package
// contract holds the other half): the Check server sets and removes them,
// and the plain-HTTP routes strip the same names.
package originhdr

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	mtlsgatev1 "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// ErrInvalid is wrapped by every error NewNames returns.
var ErrInvalid = errors.New("originhdr: invalid origin header settings")

// The header fields, in the order of their keys in the site settings.
const (
	fieldVerify = iota
	fieldFingerprint
	fieldSubject
	fieldIssuer
	fieldSerial
	fieldNotBefore
	fieldNotAfter
	fieldSANDNS
	fieldSANURI
	fieldSANEmail
	fieldIdentity
	fieldCert
	numFields
	// fieldOwned marks a name that is removed from every request and never
	// set: the default name of a field the site renamed or turned off.
	fieldOwned = -1
)

// The opt-in fields (store.OptionalHeaders), off unless a site names them,
// in the order of optKeys.
const (
	fieldSubjectCN = numFields + iota
	fieldSubjectO
	fieldSubjectOU
	fieldIssuerCN
	fieldSANIP
	fieldDaysLeft
	fieldFingerprintSHA1
	numAllFields
	// fieldOID+i is the subject attribute Names.oids[i] (a subject_oid.OID
	// key).
	fieldOID = 64
)

// optKeys are the keys of the opt-in fields, indexed by field-numFields.
var optKeys = [numAllFields - numFields]string{
	fieldSubjectCN - numFields:       "subject_cn",
	fieldSubjectO - numFields:        "subject_o",
	fieldSubjectOU - numFields:       "subject_ou",
	fieldIssuerCN - numFields:        "issuer_cn",
	fieldSANIP - numFields:           "san_ip",
	fieldDaysLeft - numFields:        "days_left",
	fieldFingerprintSHA1 - numFields: "fingerprint_sha1",
}

// fieldKeys are the keys of mtlsgatev1.ClientCertSettings.headers (and of
// store.DefaultHeaders), indexed by field.
var fieldKeys = [numFields]string{
	fieldVerify:      "verify",
	fieldFingerprint: "fingerprint_sha256",
	fieldSubject:     "subject",
	fieldIssuer:      "issuer",
	fieldSerial:      "serial",
	fieldNotBefore:   "not_before",
	fieldNotAfter:    "not_after",
	fieldSANDNS:      "san_dns",
	fieldSANURI:      "san_uri",
	fieldSANEmail:    "san_email",
	fieldIdentity:    "identity",
	fieldCert:        "cert",
}

// Names is a site's origin header names and certificate encoding, built
// once per policy with NewNames. A Names is immutable and safe for
// concurrent use; the nil *Names has no headers.
type Names struct {
	// entries are the enabled headers and the owned default names
	// (fieldOwned), sorted by name.
	entries []entry
	all     []string // their names, sorted
	enc     mtlsgatev1.CertEncoding
	// opt has bit f-numFields set for each opt-in field f sent.
	opt uint32
	// oids are the dotted OIDs of the subject_oid fields sent, sorted;
	// field fieldOID+i is oids[i].
	oids []string
}

// entry is one enabled header.
type entry struct {
	name  string
	field int
}

// XFCC is the x-forwarded-client-cert header: a Names removes it from
// every request unless the site forwards it (NewNames' forwardXFCC), so
// that what a gateway told mtlsgate, or what a client made up, reaches
// the origin only when the operator asks for it.
const XFCC = "x-forwarded-client-cert"

// NewNames validates a site's header settings and returns its Names.
//
// headers maps a field key ("verify", "fingerprint_sha256", "subject",
// "issuer", "serial", "not_before", "not_after", "san_dns", "san_uri",
// "san_email", "identity", "cert") to a header name; "" turns the field off
// and a missing key takes its name from store.DefaultHeaders (a nil map
// gives all defaults). Names must be lowercase HTTP tokens (RFC 9110) and
// used once. enc selects the encoding of the cert header;
// CERT_ENCODING_UNSPECIFIED means the default, RFC 9440. Whether a name is
// reserved (host, cookie, ...) is the store's rule, not checked here,
// apart from XFCC. Unless forwardXFCC, XFCC is owned too: All lists it,
// and Build removes it from every request.
//
// The opt-in fields ("subject_cn", "subject_o", "subject_ou", "issuer_cn",
// "san_ip", "days_left", "fingerprint_sha1", and "subject_oid.OID" for at
// most store.MaxSubjectOIDHeaders OIDs, store.SubjectOID's syntax) have no
// default name: a missing key is off, and a site owns their names only
// while it sends them.
func NewNames(headers map[string]string, enc mtlsgatev1.CertEncoding, forwardXFCC bool) (*Names, error) {
	oids, err := checkKeys(headers)
	if err != nil {
		return nil, err
	}
	enc, err = checkEncoding(enc)
	if err != nil {
		return nil, err
	}
	n := &Names{enc: enc}
	for field, key := range fieldKeys {
		name, ok := headers[key]
		if !ok {
			name = store.DefaultHeaders[key]
		}
		if err := n.add(key, name, field); err != nil {
			return nil, err
		}
	}
	for i, key := range optKeys {
		if err := n.add(key, headers[key], numFields+i); err != nil {
			return nil, err
		}
		if headers[key] != "" {
			n.opt |= 1 << i
		}
	}
	for _, oid := range oids {
		key := store.SubjectOIDPrefix + oid
		if err := n.add(key, headers[key], fieldOID+len(n.oids)); err != nil {
			return nil, err
		}
		if headers[key] != "" {
			n.oids = append(n.oids, oid)
		}
	}
	n.own()
	if slices.Contains(n.all, XFCC) {
		return nil, fmt.Errorf("%w: header name %q is reserved", ErrInvalid, XFCC)
	}
	if !forwardXFCC {
		n.entries = append(n.entries, entry{name: XFCC, field: fieldOwned})
		n.all = append(n.all, XFCC)
	}
	slices.SortFunc(n.entries, func(a, b entry) int { return cmp.Compare(a.name, b.name) })
	slices.Sort(n.all)
	n.all = slices.Clip(n.all)
	return n, nil
}

// checkKeys refuses unknown keys and returns the OIDs of the subject_oid
// keys, sorted.
func checkKeys(headers map[string]string) ([]string, error) {
	var oids []string
	for k := range headers {
		if slices.Contains(fieldKeys[:], k) || slices.Contains(optKeys[:], k) {
			continue
		}
		_, ok, err := store.SubjectOID(k)
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: unknown header field %q", ErrInvalid, k)
		case err != nil:
			return nil, fmt.Errorf("%w: header field %q: %v", ErrInvalid, k, err)
		}
		oids = append(oids, k[len(store.SubjectOIDPrefix):])
	}
	if len(oids) > store.MaxSubjectOIDHeaders {
		return nil, fmt.Errorf("%w: more than %d %sOID fields", ErrInvalid, store.MaxSubjectOIDHeaders, store.SubjectOIDPrefix)
	}
	slices.Sort(oids)
	return oids, nil
}

// add records field under name, unless name is "" (disabled).
func (n *Names) add(key, name string, field int) error {
	switch {
	case name == "":
		return nil
	case !isLowerToken(name):
		return fmt.Errorf("%w: header name %q for %s is not a lowercase HTTP token", ErrInvalid, name, key)
	case slices.Contains(n.all, name):
		return fmt.Errorf("%w: header name %q for %s is used twice", ErrInvalid, name, key)
	}
	n.entries = append(n.entries, entry{name: name, field: field})
	n.all = append(n.all, name)
	return nil
}

// own adds the default name of every field that does not carry it now
// (renamed or turned off), so that a client's copy of it is removed too:
// an origin written for the defaults must never read a client's value
// under them (issue 9, finding 5). A default name another field now uses
// is that field's.
func (n *Names) own() {
	for _, key := range fieldKeys {
		name := store.DefaultHeaders[key]
		if !slices.Contains(n.all, name) {
			n.entries = append(n.entries, entry{name: name, field: fieldOwned})
			n.all = append(n.all, name)
		}
	}
}

// checkEncoding resolves the default encoding and refuses unknown values.
func checkEncoding(enc mtlsgatev1.CertEncoding) (mtlsgatev1.CertEncoding, error) {
	switch enc {
	case mtlsgatev1.CertEncoding_CERT_ENCODING_UNSPECIFIED:
		return mtlsgatev1.CertEncoding_CERT_ENCODING_RFC9440, nil
	case mtlsgatev1.CertEncoding_CERT_ENCODING_RFC9440,
		mtlsgatev1.CertEncoding_CERT_ENCODING_BASE64_DER,
		mtlsgatev1.CertEncoding_CERT_ENCODING_URL_PEM,
		mtlsgatev1.CertEncoding_CERT_ENCODING_NONE:
		return enc, nil
	}
	return 0, fmt.Errorf("%w: unknown cert encoding %d", ErrInvalid, int32(enc))
}

// isLowerToken reports whether s is an RFC 9110 token without uppercase
// letters.
func isLowerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c < 0x80 && isTokenSymbol(c)) {
			return false
		}
	}
	return true
}

// isTokenSymbol reports whether c is one of the non-alphanumeric tchars.
func isTokenSymbol(c byte) bool {
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// All returns every header name the site owns, sorted: the enabled names
// and the default name of every field (renamed or turned off ones
// included), and XFCC unless the site forwards it. Each is removed from
// every request before the origin sees it,
// whatever the mode, so that a client cannot smuggle its own values. The
// cert header's name is included whatever the encoding, CERT_ENCODING_NONE
// included. The slice is shared and must not be modified.
func (n *Names) All() []string {
	if n == nil {
		return nil
	}
	return n.all
}

// VerifyName returns the name of the verify header, "" when it is off.
func (n *Names) VerifyName() string {
	if n == nil {
		return ""
	}
	for _, e := range n.entries {
		if e.field == fieldVerify {
			return e.name
		}
	}
	return ""
}
