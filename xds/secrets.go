package xds

import (
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func inline(s string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
}

func file(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
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
func clientCASecret(s *pb.Site, trust *model.Trust, crls []*model.CRL) *tlsv3.Secret {
	return &tlsv3.Secret{Name: clientCASecretName(s.GetHostname()),
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: validationContext(s, trust, crls)}}
}

// validationContext trusts every certificate of the site's CAs (sorted by
// fingerprint, so the secret does not depend on CA ids). In permissive
// mode, and in enforce mode verifying at the request, a bad certificate
// still connects, for ext_authz to report or refuse. CRLs are
// given to Envoy only when it cannot reject a valid certificate with them
// (see buildEnv.clientCASecret); otherwise revocation is enforced by ext_authz alone. crls
// holds the CRL of each trusted certificate's issuer identity (nil: none),
// or is nil when the site's settings keep CRLs from Envoy (mayGetCRLs).
func validationContext(s *pb.Site, trust *model.Trust, crls []*model.CRL) *tlsv3.CertificateValidationContext {
	vc := &tlsv3.CertificateValidationContext{TrustedCa: inline(trust.PEM)}
	if !handshakeVerifies(s) {
		vc.TrustChainVerification = tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED
	}
	if pems := crlPEMs(crls); pems != nil {
		vc.Crl = inline(strings.Join(pems, "")) // one CRL: not copied
		vc.OnlyVerifyLeafCertCrl = s.GetSettings().GetRevocation().GetCrl() == pb.CRLCheck_CRL_CHECK_LEAF
	}
	return vc
}

// mayGetCRLs reports whether the site's settings let Envoy check CRLs:
// revocation is on and a stale CRL denies at once (Envoy fails handshakes
// once a CRL is past its nextUpdate: no grace).
func mayGetCRLs(s *pb.Site) bool {
	rev := s.GetSettings().GetRevocation()
	return rev.GetCrl() != pb.CRLCheck_CRL_CHECK_OFF && rev.GetOnStaleCrl() == pb.StaleCRLAction_STALE_CRL_ACTION_DENY &&
		rev.GetStaleCrlGrace().AsDuration() <= 0
}

// crlPEMs returns the PEM of every distinct CRL, in order, or nil when one
// is missing (partial coverage: ext_authz alone) or there are none.
func crlPEMs(crls []*model.CRL) []string {
	if len(crls) == 0 {
		return nil
	}
	var out []string
	seen := map[*model.CRL]bool{}
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
