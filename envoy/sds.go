package envoy

import (
	"fmt"
	"path/filepath"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mtlsgate/mtlsgate/nodeid"
)

// The files of a credentials directory, relative to it. Envoy reads
// BootstrapFile at start, and the two SDS files (each a
// DiscoveryResponse holding one Secret) whenever an entry of SDSDir is
// moved into place; the secrets point at the PEM files.
const (
	BootstrapFile  = "envoy.yaml"
	CAFile         = "ca.pem"   // mtlsgate's CA: verifies the servers
	CertFile       = "node.pem" // the node's certificate (and chain)
	KeyFile        = "node.key" // the node's private key, mode 0600
	SDSDir         = "sds"      // watched by Envoy; see WriteDir
	NodeSecretFile = "sds/node.yaml"
	CASecretFile   = "sds/ca.yaml"
)

// Names of the two file-based SDS secrets.
const (
	NodeSecretName = "mtlsgate_node"
	CASecretName   = "mtlsgate_ca"
)

// tlsSocketName is Envoy's TLS transport socket.
const tlsSocketName = "envoy.transport_sockets.tls"

// nodeTLS is the transport socket of a static cluster: TLS presenting the
// node certificate, verifying the server with the CA secret, offering
// ALPN "h2" (gRPC servers require it).
func nodeTLS(dir string) (*corev3.TransportSocket, error) {
	up := &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		AlpnProtocols: []string{"h2"},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{
			fileSecret(NodeSecretName, dir, NodeSecretFile),
		},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: fileSecret(CASecretName, dir, CASecretFile),
		},
	}}
	a, err := pack(up, "upstream TLS context")
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{Name: tlsSocketName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}

// fileSecret names a secret read from dir/file, reloaded when an entry
// of dir/sds is moved into place.
func fileSecret(name, dir, file string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{
			Path:             filepath.Join(dir, file),
			WatchedDirectory: watched(dir),
		}},
		ResourceApiVersion: corev3.ApiVersion_V3,
	}}
}

// watched is the SDS directory of dir.
func watched(dir string) *corev3.WatchedDirectory {
	return &corev3.WatchedDirectory{Path: filepath.Join(dir, SDSDir)}
}

// file is a data source naming dir/name.
func file(dir, name string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: filepath.Join(dir, name)}}
}

// NodeSecret is the content of NodeSecretFile for a credentials directory
// that Envoy sees at dir: the node certificate and key, read from the PEM
// files when the SDS directory changes (not when the PEM files do, so a
// renewal is picked up only once every file is in place).
func NodeSecret(dir string) (*discoveryv3.DiscoveryResponse, error) {
	return secretFile(&tlsv3.Secret{Name: NodeSecretName, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: file(dir, CertFile),
		PrivateKey:       file(dir, KeyFile),
		WatchedDirectory: watched(dir),
	}}})
}

// CASecret is the content of CASecretFile: mtlsgate's CA, and the URI SAN
// a server certificate must carry, nodeid.ServerURI.
func CASecret(dir string) (*discoveryv3.DiscoveryResponse, error) {
	return secretFile(&tlsv3.Secret{Name: CASecretName, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: file(dir, CAFile),
		MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
			SanType: tlsv3.SubjectAltNameMatcher_URI,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: nodeid.ServerURI}},
		}},
		WatchedDirectory: watched(dir),
	}}})
}

// secretFile wraps one validated secret in a DiscoveryResponse, the
// format of a path-based SDS source.
func secretFile(s *tlsv3.Secret) (*discoveryv3.DiscoveryResponse, error) {
	a, err := pack(s, "secret "+s.GetName())
	if err != nil {
		return nil, err
	}
	r := &discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{a}}
	if err := r.ValidateAll(); err != nil {
		return nil, fmt.Errorf("envoy: SDS file of %s is invalid: %w", s.GetName(), err)
	}
	return r, nil
}
