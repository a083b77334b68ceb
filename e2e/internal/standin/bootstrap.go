package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
)

// maxConfigFile bounds a bootstrap or SDS file read.
const maxConfigFile = 1 << 20

// bootstrapCfg is a compiled bootstrap: the node, the ADS stream, the
// static clusters and the file-based secrets they use.
type bootstrapCfg struct {
	node       *corev3.Node
	delta      bool
	nodeOnce   bool // set_node_on_first_message_only
	adsCluster string
	static     map[string]*clusterCfg
	secrets    []*fileSecret
	// maxConns bounds the downstream connections of every listener
	// together (the overload manager's connection monitor); 0: none.
	maxConns int64
}

// readBootstrap reads and compiles the bootstrap at path, as Envoy does
// with -c: YAML (or JSON), validated, every field checked against what the
// stand-in implements, then every file-based SDS secret loaded.
func readBootstrap(path string) (*bootstrapCfg, error) {
	b := &bootstrapv3.Bootstrap{}
	if err := readConfigFile(path, b); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("bootstrap: invalid: %w", err)
	}
	if err := bootstrapWalker.check(b); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	bc, err := compileBootstrap(b)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return bc, nil
}

// readConfigFile parses a YAML or JSON file into m with protojson (the
// mapping Envoy uses): unknown fields are errors.
func readConfigFile(path string, m proto.Message) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if len(raw) > maxConfigFile {
		return fmt.Errorf("%s is larger than %d bytes", path, maxConfigFile)
	}
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := protojson.Unmarshal(js, m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// compileBootstrap reads the node, the ADS source and the static clusters.
func compileBootstrap(b *bootstrapv3.Bootstrap) (*bootstrapCfg, error) {
	bc := &bootstrapCfg{node: b.GetNode(), static: map[string]*clusterCfg{}}
	if bc.node.GetId() == "" {
		return nil, errors.New("node.id is required")
	}
	for _, c := range b.GetStaticResources().GetClusters() {
		if bc.static[c.GetName()] != nil {
			return nil, fmt.Errorf("static cluster %q is defined twice", c.GetName())
		}
		cc, err := bc.compileStaticCluster(c)
		if err != nil {
			return nil, fmt.Errorf("static cluster %q: %w", c.GetName(), err)
		}
		bc.static[c.GetName()] = cc
	}
	dr := b.GetDynamicResources()
	if dr.GetLdsConfig().GetAds() == nil || dr.GetCdsConfig().GetAds() == nil {
		return nil, errors.New("lds_config and cds_config must be ads (the only source implemented)")
	}
	ads := dr.GetAdsConfig()
	if len(ads.GetGrpcServices()) != 1 || ads.GetGrpcServices()[0].GetEnvoyGrpc() == nil {
		return nil, errors.New("ads_config needs exactly one envoy_grpc service")
	}
	bc.adsCluster = ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName()
	if bc.static[bc.adsCluster] == nil {
		return nil, fmt.Errorf("ads_config names cluster %q, which is not a static cluster", bc.adsCluster)
	}
	if !bc.static[bc.adsCluster].http2 {
		return nil, fmt.Errorf("ADS cluster %q is not HTTP/2", bc.adsCluster)
	}
	bc.delta = ads.GetApiType() == corev3.ApiConfigSource_DELTA_GRPC
	bc.nodeOnce = ads.GetSetNodeOnFirstMessageOnly()
	var err error
	bc.maxConns, err = compileOverload(b)
	return bc, err
}

// compileStaticCluster compiles a bootstrap cluster: one endpoint or
// several (health-checked over gRPC when it says so), HTTP/2 options with
// keepalive, and TLS whose credentials come from file-based SDS secrets.
func (bc *bootstrapCfg) compileStaticCluster(c *clusterv3.Cluster) (*clusterCfg, error) {
	cc := &clusterCfg{msg: c, name: c.GetName(), connectTimeout: 5 * time.Second}
	if c.GetConnectTimeout() != nil {
		cc.connectTimeout = c.GetConnectTimeout().AsDuration()
	}
	if err := cc.endpoint(c); err != nil {
		return nil, err
	}
	if err := cc.healthCheck(c); err != nil {
		return nil, err
	}
	if err := cc.protocolOptions(c); err != nil {
		return nil, err
	}
	ts := c.GetTransportSocket()
	if ts == nil {
		return cc, nil
	}
	if ts.GetName() != tlsSocketName {
		return nil, fmt.Errorf("transport socket %q is not implemented", ts.GetName())
	}
	up := &tlsv3.UpstreamTlsContext{}
	if err := unpack(ts.GetTypedConfig(), up); err != nil {
		return nil, err
	}
	common := up.GetCommonTlsContext()
	certs := common.GetTlsCertificateSdsSecretConfigs()
	vc := common.GetValidationContextSdsSecretConfig()
	if len(certs) != 1 || vc == nil {
		return nil, errors.New("upstream TLS needs one tls_certificate_sds_secret_configs and a validation_context_sds_secret_config")
	}
	t := &upstreamTLS{alpn: common.GetAlpnProtocols()}
	var err error
	if t.cert, err = bc.secret(certs[0], kindCert); err != nil {
		return nil, err
	}
	if t.vc, err = bc.secret(vc, kindValidation); err != nil {
		return nil, err
	}
	cc.tls = t
	return cc, nil
}

// secret loads a file-based SDS secret, shared by every cluster naming the
// same secret and file.
func (bc *bootstrapCfg) secret(s *tlsv3.SdsSecretConfig, kind secretKind) (*fileSecret, error) {
	pcs := s.GetSdsConfig().GetPathConfigSource()
	if pcs == nil {
		return nil, fmt.Errorf("secret %q: only path_config_source SDS is implemented in the bootstrap", s.GetName())
	}
	if pcs.GetWatchedDirectory().GetPath() == "" {
		return nil, fmt.Errorf("secret %q: path_config_source without watched_directory is not implemented", s.GetName())
	}
	i := slices.IndexFunc(bc.secrets, func(f *fileSecret) bool { return f.name == s.GetName() && f.path == pcs.GetPath() })
	if i >= 0 {
		if bc.secrets[i].kind != kind {
			return nil, fmt.Errorf("secret %q is used as two kinds of secret", s.GetName())
		}
		return bc.secrets[i], nil
	}
	f := &fileSecret{name: s.GetName(), path: pcs.GetPath(), configDir: pcs.GetWatchedDirectory().GetPath(), kind: kind}
	if err := f.reload(); err != nil {
		return nil, err
	}
	bc.secrets = append(bc.secrets, f)
	return f, nil
}
