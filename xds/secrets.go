package xds

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func inline(s string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
}

func file(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

// caCert is one certificate of a client CA: its SHA-256 fingerprint, its
// PEM block, its identity as an issuer (which keys its CRL) and whether
// it is self-signed.
type caCert struct {
	fp, pem    string
	key        pki.IssuerKey
	selfSigned bool
	cert       *x509.Certificate
}

// parsedCA is a client CA's bundle, parsed once per CA message and shared
// by every site the CA is assigned to.
type parsedCA struct {
	msg   *pb.ClientCA
	certs []caCert
	err   error
}

func parseCA(ca *pb.ClientCA) *parsedCA {
	p := &parsedCA{msg: ca}
	certs, err := pki.ParseCertificates([]byte(ca.GetBundlePem()))
	if err != nil {
		p.err = err
		return p
	}
	p.certs = make([]caCert, len(certs))
	for i, c := range certs {
		p.certs[i] = caCert{fp: pki.Fingerprint(c.Raw), pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
			key: pki.IssuerKeyOf(c), selfSigned: pki.SelfSigned(c), cert: c}
	}
	return p
}

// encodedCRL is a CRL message whose PEM is made on first use (most CRLs
// never reach Envoy, and a large one is tens of megabytes of PEM), then
// kept for as long as the message is current.
type encodedCRL struct {
	msg  *pb.CRL
	once sync.Once
	pem  string
}

func (c *encodedCRL) PEM() string {
	c.once.Do(func() { c.pem = string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.msg.GetDer()})) })
	return c.pem
}

// siteTrust is what a site's validation context is made of: the
// certificates of its CAs, deduplicated and sorted by fingerprint, their
// issuer identities (same index), their PEM, and whether the set is
// closed: every certificate is self-signed or issued (name and signature)
// by another certificate of the set.
type siteTrust struct {
	fps    []string
	keys   []pki.IssuerKey
	pem    string
	closed bool
}

// trustOf collects the certificates of the CAs ids from cas.
func trustOf(ids []string, cas map[string]*parsedCA) (*siteTrust, error) {
	byFP := map[string]caCert{}
	for _, id := range ids {
		ca := cas[id]
		if ca == nil {
			return nil, fmt.Errorf("client CA %s does not exist", id)
		}
		if ca.err != nil {
			return nil, fmt.Errorf("client CA %s: %w", id, ca.err)
		}
		for _, c := range ca.certs {
			byFP[c.fp] = c
		}
	}
	t := &siteTrust{fps: slices.Sorted(maps.Keys(byFP)), closed: true}
	pems := make([]string, len(t.fps))
	t.keys = make([]pki.IssuerKey, len(t.fps))
	for i, fp := range t.fps {
		pems[i], t.keys[i] = byFP[fp].pem, byFP[fp].key
	}
	t.pem = concat(pems)
	for _, fp := range t.fps {
		if c := byFP[fp]; !c.selfSigned && !issuedWithin(c.cert, byFP) {
			t.closed = false
			break
		}
	}
	return t, nil
}

// issuedWithin reports whether a certificate of set issued c.
func issuedWithin(c *x509.Certificate, set map[string]caCert) bool {
	for _, iss := range set {
		if bytes.Equal(iss.cert.RawSubject, c.RawIssuer) && iss.cert != c && c.CheckSignatureFrom(iss.cert) == nil {
			return true
		}
	}
	return false
}

// serverSecret is the site's certificate and key.
func serverSecret(s *pb.Site) (*tlsv3.Secret, error) {
	server := &tlsv3.TlsCertificate{}
	switch src := s.GetServerCertificate().GetSource().(type) {
	case *pb.ServerCertificate_Inline:
		server.CertificateChain = inline(src.Inline.GetCertificateChainPem())
		server.PrivateKey = inline(src.Inline.GetPrivateKeyPem())
	case *pb.ServerCertificate_Files:
		server.CertificateChain = file(src.Files.GetCertificateChainPath())
		server.PrivateKey = file(src.Files.GetPrivateKeyPath())
	default:
		return nil, fmt.Errorf("site has no server certificate")
	}
	return &tlsv3.Secret{Name: serverSecretName(s.GetHostname()), Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: server}}, nil
}

// clientCASecret is the site's client-CA validation context, for a site
// that asks for certificates.
func clientCASecret(s *pb.Site, trust *siteTrust, crls []*encodedCRL) *tlsv3.Secret {
	return &tlsv3.Secret{Name: clientCASecretName(s.GetHostname()),
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: validationContext(s, trust, crls)}}
}

// validationContext trusts every certificate of the site's CAs (sorted by
// fingerprint, so the secret does not depend on CA ids). In permissive
// mode a bad certificate still connects, for ext_authz to report. CRLs are
// given to Envoy only when it cannot reject a valid certificate with them
// (see buildEnv.clientCASecret); otherwise revocation is enforced by ext_authz alone. crls
// holds the CRL of each trusted certificate's issuer identity (nil: none),
// or is nil when the site's settings keep CRLs from Envoy (mayGetCRLs).
func validationContext(s *pb.Site, trust *siteTrust, crls []*encodedCRL) *tlsv3.CertificateValidationContext {
	vc := &tlsv3.CertificateValidationContext{TrustedCa: inline(trust.pem)}
	if s.GetSettings().GetMode() == pb.Mode_MODE_PERMISSIVE {
		vc.TrustChainVerification = tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED
	}
	if pems := crlPEMs(crls); pems != nil {
		vc.Crl = inline(concat(pems))
		vc.OnlyVerifyLeafCertCrl = s.GetSettings().GetRevocation().GetCrl() == pb.CRLCheck_CRL_CHECK_LEAF
	}
	return vc
}

// mayGetCRLs reports whether the site's settings let Envoy check CRLs:
// revocation is on and a stale CRL denies (Envoy fails handshakes once a
// CRL is past its nextUpdate).
func mayGetCRLs(s *pb.Site) bool {
	rev := s.GetSettings().GetRevocation()
	return rev.GetCrl() != pb.CRLCheck_CRL_CHECK_OFF && rev.GetOnStaleCrl() == pb.StaleCRLAction_STALE_CRL_ACTION_DENY
}

// crlPEMs returns the PEM of every distinct CRL, in order, or nil when one
// is missing (partial coverage: ext_authz alone) or there are none.
func crlPEMs(crls []*encodedCRL) []string {
	if len(crls) == 0 {
		return nil
	}
	var out []string
	seen := map[*encodedCRL]bool{}
	for _, c := range crls {
		if c == nil {
			return nil
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c.PEM())
		}
	}
	return out
}

// concat joins strings; one string is returned as is, so that a single
// large CRL is not copied.
func concat(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts, "")
}
