package xds

import (
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

func inline(s string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
}

func file(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

// secrets are a site's server certificate and, unless client certificates
// are off, its client-CA validation context.
func secrets(st *store.State, s *pb.Site) ([]*tlsv3.Secret, error) {
	host := s.GetHostname()
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
	out := []*tlsv3.Secret{{Name: serverSecretName(host), Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: server}}}
	if !asksForCertificates(s) {
		return out, nil
	}
	vc, err := validationContext(st, s)
	if err != nil {
		return nil, err
	}
	return append(out, &tlsv3.Secret{Name: clientCASecretName(host), Type: &tlsv3.Secret_ValidationContext{ValidationContext: vc}}), nil
}

// validationContext trusts every certificate of the site's CAs (sorted by
// fingerprint, so the secret does not depend on CA ids). In permissive
// mode a bad certificate still connects, for ext_authz to report. CRLs are
// given to Envoy only when it cannot reject a valid certificate with them:
// every trusted certificate has one (Envoy requires a CRL for each CA in
// the chain once any is given), and a stale CRL denies on this site (Envoy
// fails handshakes once a CRL is past its nextUpdate). Otherwise
// revocation is enforced by ext_authz alone.
func validationContext(st *store.State, s *pb.Site) (*tlsv3.CertificateValidationContext, error) {
	certs, err := siteCertificates(st, s)
	if err != nil {
		return nil, err
	}
	vc := &tlsv3.CertificateValidationContext{TrustedCa: inline(joinPEM(certs))}
	if s.GetSettings().GetMode() == pb.Mode_MODE_PERMISSIVE {
		vc.TrustChainVerification = tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED
	}
	if crls := envoyCRLs(st, s, certs); crls != "" {
		vc.Crl = inline(crls)
		vc.OnlyVerifyLeafCertCrl = s.GetSettings().GetRevocation().GetCrl() == pb.CRLCheck_CRL_CHECK_LEAF
	}
	return vc, nil
}

// siteCertificates returns the DER of every certificate of the site's CAs,
// deduplicated and sorted by fingerprint.
func siteCertificates(st *store.State, s *pb.Site) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, id := range s.GetCaIds() {
		ca := st.CA(id)
		if ca == nil {
			return nil, fmt.Errorf("client CA %s does not exist", id)
		}
		certs, err := pki.ParseCertificates([]byte(ca.GetBundlePem()))
		if err != nil {
			return nil, fmt.Errorf("client CA %s: %w", id, err)
		}
		for _, c := range certs {
			out[pki.Fingerprint(c.Raw)] = c.Raw
		}
	}
	return out, nil
}

func joinPEM(certs map[string][]byte) string {
	var b strings.Builder
	for _, fp := range sortedKeys(certs) {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: certs[fp]})
	}
	return b.String()
}

// envoyCRLs returns the PEM of the CRLs Envoy may check for the site, or
// "" when it must not get any (see validationContext).
func envoyCRLs(st *store.State, s *pb.Site, certs map[string][]byte) string {
	rev := s.GetSettings().GetRevocation()
	if rev.GetCrl() == pb.CRLCheck_CRL_CHECK_OFF || rev.GetOnStaleCrl() != pb.StaleCRLAction_STALE_CRL_ACTION_DENY {
		return ""
	}
	byIssuer := map[string]*pb.CRL{}
	for _, c := range st.CRLs() {
		byIssuer[c.GetIssuerSha256Fingerprint()] = c
	}
	var b strings.Builder
	for _, fp := range sortedKeys(certs) {
		crl := byIssuer[fp]
		if crl == nil {
			return "" // partial coverage: ext_authz alone
		}
		_ = pem.Encode(&b, &pem.Block{Type: "X509 CRL", Bytes: crl.GetDer()})
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
