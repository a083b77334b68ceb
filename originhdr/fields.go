package originhdr

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"net/url"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/pki"
	mtlsgatev1 "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// timeLayout is RFC 3339 in UTC with whole seconds.
const timeLayout = "2006-01-02T15:04:05Z"

// Fields are the header values derived from one client certificate. They
// are computed once per certificate with FieldsOf and cached by the caller;
// an empty value means "not sent". FieldsOf only produces values that are
// valid HTTP field values.
type Fields struct {
	// Fingerprint is the lowercase hex SHA-256 of the DER (pki.Fingerprint,
	// the format of the store's pins).
	Fingerprint string
	// Subject and Issuer are RFC 4514 strings (pkix.Name.String), with
	// every control character (below 0x20, and 0x7f) written as the RFC
	// 4514 hexpair `\XX`, and a final escaped space as `\20`.
	Subject, Issuer string
	// Serial is uppercase hex without leading zeros, "0" for zero
	// (pki.SerialHex).
	Serial string
	// NotBefore and NotAfter are RFC 3339 in UTC: 2006-01-02T15:04:05Z.
	NotBefore, NotAfter string
	// SANDNS, SANURI and SANEmail list the subject alternative names of
	// each type in certificate order, joined by ",". Within a name, ',',
	// space, control characters and bytes from 0x7f up are percent-encoded
	// (%XX, uppercase), and so is '%' in DNS names and emails (a URI keeps
	// its own %XX escapes), so that the list splits back on ','. URIs are
	// as url.URL.String writes them.
	SANDNS, SANURI, SANEmail string
	// CertRFC9440 is the DER as RFC 9440 writes it: ':' std-base64 ':'.
	CertRFC9440 string
	// CertBase64DER is the DER in standard, padded base64.
	CertBase64DER string
	// CertURLPEM is the PEM (one CERTIFICATE block, 64-column lines, final
	// newline) with every byte except ASCII letters, digits and "-._~"
	// percent-encoded (%XX, uppercase), like nginx's
	// $ssl_client_escaped_cert: it decodes with url.PathUnescape and with
	// url.QueryUnescape alike, as it holds no '+'.
	CertURLPEM string
	// Extra holds the opt-in fields; nil when none is computed (a site
	// that sends none of them pays nothing for them).
	Extra *Extra
}

// Extra are the values of the opt-in fields (see extra.go).
type Extra struct {
	// FingerprintSHA1 is the lowercase hex SHA-1 of the DER.
	FingerprintSHA1 string
	// SubjectCN, SubjectO and SubjectOU list every value of the subject's
	// commonName, organizationName and organizationalUnitName attributes,
	// IssuerCN of the issuer's commonName, in certificate order (the
	// DER's: values in one multi-valued RDN come as DER sorts a SET),
	// encoded and joined as SANDNS is (',' between values; ',', '%', space,
	// control characters and bytes from 0x7f up percent-encoded: each value
	// decodes with url.PathUnescape).
	SubjectCN, SubjectO, SubjectOU, IssuerCN string
	// SANIP lists the IP address SANs in canonical text form (RFC 5952
	// for IPv6, an IPv4-mapped address as ::ffff:192.0.2.1), joined by ",".
	SANIP string
	// SubjectOID maps the dotted OID of a subject attribute type to its
	// values, encoded and joined as SubjectCN; a value that is not a string
	// is RFC 4514's '#' and the lowercase hex of its DER (as Subject writes
	// it).
	SubjectOID map[string]string
	// NotAfter is the end of the validity, from which Build computes
	// days_left at the time of each request.
	NotAfter time.Time
}

// FieldsOf computes the header values of a certificate, with the
// certificate in every encoding and every opt-in field (SubjectOID with
// every attribute type of the subject). FieldsOf(nil) is nil; fields a
// certificate lacks (no Raw bytes, no serial) are "".
func FieldsOf(leaf *x509.Certificate) *Fields {
	f := baseFields(leaf)
	if f != nil && len(leaf.Raw) > 0 {
		f.CertRFC9440 = ":" + base64.StdEncoding.EncodeToString(leaf.Raw) + ":"
		f.CertBase64DER = f.CertRFC9440[1 : len(f.CertRFC9440)-1]
		f.CertURLPEM = urlPEM(leaf.Raw)
	}
	if f != nil {
		f.Extra = extraOf(leaf, ^uint32(0), nil)
	}
	return f
}

// Fields computes the header values n sends for leaf: as FieldsOf, but the
// certificate only in n's encoding, and only when n sends it (the encodings
// are most of the cost, the URL-encoded PEM above all).
func (n *Names) Fields(leaf *x509.Certificate) *Fields {
	f := baseFields(leaf)
	if f != nil && (n.opt != 0 || len(n.oids) > 0) {
		f.Extra = extraOf(leaf, n.opt, n.oids)
	}
	if f == nil || len(leaf.Raw) == 0 || !n.sends(fieldCert) {
		return f
	}
	switch n.enc {
	case mtlsgatev1.CertEncoding_CERT_ENCODING_RFC9440:
		f.CertRFC9440 = ":" + base64.StdEncoding.EncodeToString(leaf.Raw) + ":"
	case mtlsgatev1.CertEncoding_CERT_ENCODING_BASE64_DER:
		f.CertBase64DER = base64.StdEncoding.EncodeToString(leaf.Raw)
	case mtlsgatev1.CertEncoding_CERT_ENCODING_URL_PEM:
		f.CertURLPEM = urlPEM(leaf.Raw)
	}
	return f
}

// sends reports whether n has a header for field (not an opt-in one).
func (n *Names) sends(field int) bool {
	for _, e := range n.entries {
		if e.field == field {
			return true
		}
	}
	return false
}

// baseFields computes every field but the certificate encodings.
func baseFields(leaf *x509.Certificate) *Fields {
	if leaf == nil {
		return nil
	}
	f := &Fields{
		Subject:   dnString(leaf.Subject),
		Issuer:    dnString(leaf.Issuer),
		Serial:    pki.SerialHex(leaf.SerialNumber),
		NotBefore: timeString(leaf.NotBefore),
		NotAfter:  timeString(leaf.NotAfter),
		SANDNS:    sanList(leaf.DNSNames, false),
		SANURI:    uriList(leaf.URIs),
		SANEmail:  sanList(leaf.EmailAddresses, false),
	}
	if len(leaf.Raw) > 0 {
		f.Fingerprint = pki.Fingerprint(leaf.Raw)
	}
	return f
}

// dnString renders a distinguished name for a header (see Fields.Subject).
func dnString(n pkix.Name) string {
	s := n.String()
	if s == "" || validValue(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			b.WriteByte('\\')
			writeHex(&b, c)
		} else {
			b.WriteByte(c)
		}
	}
	out := b.String()
	if t, ok := strings.CutSuffix(out, `\ `); ok {
		out = t + `\20`
	}
	return out
}

// timeString formats t for a header, "" for the zero time.
func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// sanList joins names with ",", percent-encoding what Fields documents.
func sanList(names []string, keepPercent bool) string {
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		for j := 0; j < len(name); j++ {
			c := name[j]
			if c <= ' ' || c >= 0x7f || c == ',' || c == '%' && !keepPercent {
				b.WriteByte('%')
				writeHex(&b, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// uriList lists the URIs (nil ones skipped) like sanList.
func uriList(uris []*url.URL) string {
	if len(uris) == 0 {
		return ""
	}
	s := make([]string, 0, len(uris))
	for _, u := range uris {
		if u != nil {
			s = append(s, u.String())
		}
	}
	return sanList(s, true)
}

// urlPEM returns the PEM of der, percent-encoded (see Fields.CertURLPEM).
func urlPEM(der []byte) string {
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	var b strings.Builder
	b.Grow(len(p) + len(p)/8)
	for _, c := range p {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			writeHex(&b, c)
		}
	}
	return b.String()
}

// writeHex writes c as two uppercase hex digits.
func writeHex(b *strings.Builder, c byte) {
	b.WriteByte(upperHex[c>>4])
	b.WriteByte(upperHex[c&15])
}
