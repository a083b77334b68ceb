package issuing

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// IdentityURIPrefix starts the URI SAN that names a certificate's identity:
// urn:mtlsgate:identity:<name, percent-encoded as a path segment>.
// ext_authz resolves a certificate of the issuing CA to its identity from
// it: keep the form exactly.
const IdentityURIPrefix = "urn:mtlsgate:identity:"

// IdentityURI returns the URI SAN naming identity name.
func IdentityURI(name string) *url.URL {
	return &url.URL{Scheme: "urn", Opaque: "mtlsgate:identity:" + url.PathEscape(name)}
}

// IdentityOf returns the identity a certificate names in its
// IdentityURIPrefix URI SAN (the first such SAN), or "".
func IdentityOf(c *x509.Certificate) string {
	for _, u := range c.URIs {
		if s := u.String(); strings.HasPrefix(s, IdentityURIPrefix) {
			if name, err := url.PathUnescape(strings.TrimPrefix(s, IdentityURIPrefix)); err == nil {
				return name
			}
		}
	}
	return ""
}

// Request is a client certificate to issue.
type Request struct {
	// Identity is the identity's name: the subject CN and the URI SAN.
	Identity string
	// PublicKey is the certificate's key (from a checked CSR or NewKey).
	PublicKey crypto.PublicKey
	// Days is the lifetime (0: DefaultDays); the certificate never
	// outlives the CA.
	Days int
	// CRLURL is the CRL distribution point it names ("": none).
	CRLURL string
	// Now is the issue time; the certificate starts a minute before.
	Now time.Time
}

// Issue signs a client certificate for r: a random positive 128-bit
// serial, subject CN the identity, the URI SAN IdentityURI, extended key
// usage clientAuth only, key usage digitalSignature, the CA's key as
// authority key id and r.CRLURL as CRL distribution point.
func (ca *CA) Issue(r Request) (*x509.Certificate, error) {
	if r.Identity == "" {
		return nil, invalidf("identity: is required")
	}
	life, err := lifetime(r.Days, DefaultDays, MaxDays)
	if err != nil {
		return nil, fmt.Errorf("days: %w", err)
	}
	notAfter := r.Now.Add(life)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	notBefore := r.Now.Add(-backdate)
	if !notAfter.After(notBefore) || r.Now.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("%w: the issuing CA expired on %s", ErrExpired, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	serial, err := RandomSerial()
	if err != nil {
		return nil, err
	}
	tpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: r.Identity},
		NotBefore:      notBefore,
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:           []*url.URL{IdentityURI(r.Identity)},
		AuthorityKeyId: ca.Cert.SubjectKeyId,
	}
	if r.CRLURL != "" {
		tpl.CRLDistributionPoints = []string{r.CRLURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.Cert, r.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing: sign certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}
