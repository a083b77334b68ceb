package originhdr

import (
	"time"

	mtlsgatev1 "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Header is one header to set on the request to the origin.
type Header struct {
	Name, Value string
}

// Build appends to set the headers to set on a request and to remove the
// site's header names to remove from it, and returns both slices.
//
// verify (SUCCESS, FAILED:<reason> or NONE) is always set when enabled and
// non-empty. When f is non-nil, every enabled certificate field with a
// non-empty value is set too, identity when non-empty, and the certificate
// in the site's encoding (never with CERT_ENCODING_NONE). When f is nil
// only verify is set. Every other name of All() goes to remove (the default
// names of renamed and disabled fields always do): Envoy applies removals
// after sets, so no name is ever in both, and together they are exactly
// All(). Both lists are in name order.
//
// The opt-in fields are read from f.Extra (nil: none is set); days_left is
// computed at now (see Until for how long the result holds).
//
// Values that are not valid HTTP field values (possible only for a Fields
// not made by FieldsOf, or a bad verify or identity) are escaped as
// described in the package documentation. Build allocates nothing when set
// and remove have room and the values need no escaping, but for a
// days_left of 100 or more.
func (n *Names) Build(set []Header, remove []string, verify string, f *Fields, identity string, now time.Time) ([]Header, []string) {
	if n == nil {
		return set, remove
	}
	for _, e := range n.entries {
		v := n.value(e.field, verify, f, identity, now)
		if v == "" {
			remove = append(remove, e.name)
			continue
		}
		set = append(set, Header{Name: e.name, Value: safeValue(v)})
	}
	return set, remove
}

// value returns the value of field for one request, "" for none.
func (n *Names) value(field int, verify string, f *Fields, identity string, now time.Time) string {
	switch field {
	case fieldOwned:
		return ""
	case fieldVerify:
		return verify
	}
	if f == nil {
		return ""
	}
	switch field {
	case fieldIdentity:
		return identity
	case fieldCert:
		return f.cert(n.enc)
	}
	if field < numFields {
		return f.field(field)
	}
	return n.extra(field, f.Extra, now)
}

// extra returns the value of an opt-in field.
func (n *Names) extra(field int, e *Extra, now time.Time) string {
	switch {
	case e == nil:
		return ""
	case field >= fieldOID:
		return e.SubjectOID[n.oids[field-fieldOID]]
	}
	switch field {
	case fieldSubjectCN:
		return e.SubjectCN
	case fieldSubjectO:
		return e.SubjectO
	case fieldSubjectOU:
		return e.SubjectOU
	case fieldIssuerCN:
		return e.IssuerCN
	case fieldSANIP:
		return e.SANIP
	case fieldDaysLeft:
		return daysLeft(e.NotAfter, now)
	case fieldFingerprintSHA1:
		return e.FingerprintSHA1
	}
	return ""
}

// field returns the certificate field's value.
func (f *Fields) field(field int) string {
	switch field {
	case fieldFingerprint:
		return f.Fingerprint
	case fieldSubject:
		return f.Subject
	case fieldIssuer:
		return f.Issuer
	case fieldSerial:
		return f.Serial
	case fieldNotBefore:
		return f.NotBefore
	case fieldNotAfter:
		return f.NotAfter
	case fieldSANDNS:
		return f.SANDNS
	case fieldSANURI:
		return f.SANURI
	case fieldSANEmail:
		return f.SANEmail
	}
	return ""
}

// cert returns the certificate in encoding enc, "" for none.
func (f *Fields) cert(enc mtlsgatev1.CertEncoding) string {
	switch enc {
	case mtlsgatev1.CertEncoding_CERT_ENCODING_RFC9440:
		return f.CertRFC9440
	case mtlsgatev1.CertEncoding_CERT_ENCODING_BASE64_DER:
		return f.CertBase64DER
	case mtlsgatev1.CertEncoding_CERT_ENCODING_URL_PEM:
		return f.CertURLPEM
	}
	return ""
}
