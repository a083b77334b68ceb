package envoy_test

import (
	"encoding/json"
	"os"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"gopkg.in/yaml.v3"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/xds"
)

const (
	filterFile  = "ext_authz-filter.yaml"
	clusterFile = "mtlsgate_authz-cluster.yaml"
	// What mtlsgate's xDS server pushes (its golden files, kept current by
	// the xds tests).
	productListeners = "../../xds/testdata/out/modes.listeners.yaml"
	extAuthzName     = "envoy.filters.http.ext_authz"
	// The credentials directory the recipe's cluster names.
	credentialsDir = "/etc/envoy/mtlsgate"
)

// recipeManager is the recipe's connection manager, decoded strictly.
func recipeManager(t *testing.T) *hcmv3.HttpConnectionManager {
	t.Helper()
	var a anypb.Any
	decodeFile(t, filterFile, &a)
	return unpack(t, &a, &hcmv3.HttpConnectionManager{})
}

// extAuthzOf is the ext_authz filter of m, and its index.
func extAuthzOf(t *testing.T, m *hcmv3.HttpConnectionManager) (*extauthzv3.ExtAuthz, int) {
	t.Helper()
	for i, f := range m.GetHttpFilters() {
		if f.GetName() == extAuthzName {
			return unpack(t, f.GetTypedConfig(), &extauthzv3.ExtAuthz{}), i
		}
	}
	t.Fatalf("no %s filter", extAuthzName)
	return nil, 0
}

// TestPlainEnvoyFilter checks what the filter must do for mtlsgate.
func TestPlainEnvoyFilter(t *testing.T) {
	m := recipeManager(t)
	az, i := extAuthzOf(t, m)
	if i != 0 || len(m.GetHttpFilters()) != 2 || m.GetHttpFilters()[1].GetName() != "envoy.filters.http.router" {
		t.Errorf("the filters must be ext_authz, then the router: %v", m.GetHttpFilters())
	}
	switch {
	case !az.GetIncludePeerCertificate():
		t.Error("include_peer_certificate must be true: a peer site reads source.certificate")
	case !az.GetIncludeTlsSession():
		t.Error("include_tls_session must be true: the SNI is compared with the Host")
	case az.GetFailureModeAllow():
		t.Error("failure_mode_allow must be false: fail closed")
	case az.GetTransportApiVersion().String() != "V3":
		t.Error("transport_api_version must be V3")
	case az.GetGrpcService().GetEnvoyGrpc().GetClusterName() != envoy.AuthzClusterName:
		t.Errorf("the filter must call the %s cluster", envoy.AuthzClusterName)
	case az.GetStatusOnError().GetCode() != 503:
		t.Error("status_on_error must be 503")
	}
	if got, limit := az.GetGrpcService().GetTimeout().AsDuration(), xds.DefaultOptions().AuthzTimeout; got <= 0 || got > limit {
		t.Errorf("timeout %s: want positive and at most mtlsgate's xds.authz_timeout %s", got, limit)
	}
	if m.GetForwardClientCertDetails() != hcmv3.HttpConnectionManager_SANITIZE {
		t.Error("forward_client_cert_details must be SANITIZE")
	}
	routes := m.GetRouteConfig().GetVirtualHosts()
	if len(routes) == 0 {
		t.Fatal("no virtual host")
	}
	for _, vh := range routes {
		for _, r := range vh.GetRoutes() {
			per := unpack(t, r.GetTypedPerFilterConfig()[extAuthzName], &extauthzv3.ExtAuthzPerRoute{})
			ext := per.GetCheckSettings().GetContextExtensions()
			if len(ext) != 1 || ext[contract.SiteExtension] != vh.GetDomains()[0] {
				t.Errorf("route of %s: context_extensions %v, want only %s: the site", vh.GetName(), ext, contract.SiteExtension)
			}
		}
	}
}

// TestPlainEnvoyFilterIsMtlsgates compares the recipe with what
// mtlsgate's xDS server pushes to the Envoys it configures: the same
// ext_authz filter, field for field, and the same XFCC handling.
func TestPlainEnvoyFilterIsMtlsgates(t *testing.T) {
	mine := recipeManager(t)
	theirs := productManager(t)
	a, _ := extAuthzOf(t, mine)
	b, _ := extAuthzOf(t, theirs)
	if !proto.Equal(a, b) {
		t.Errorf("the recipe's ext_authz filter differs from mtlsgate's:\nrecipe:   %v\nmtlsgate: %v", text(a), text(b))
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"forward_client_cert_details", mine.GetForwardClientCertDetails(), theirs.GetForwardClientCertDetails()},
		{"use_remote_address", mine.GetUseRemoteAddress().GetValue(), theirs.GetUseRemoteAddress().GetValue()},
		{"normalize_path", mine.GetNormalizePath().GetValue(), theirs.GetNormalizePath().GetValue()},
		{"merge_slashes", mine.GetMergeSlashes(), theirs.GetMergeSlashes()},
		{"path_with_escaped_slashes_action", mine.GetPathWithEscapedSlashesAction(), theirs.GetPathWithEscapedSlashesAction()},
		{"strip_any_host_port", mine.GetStripAnyHostPort(), theirs.GetStripAnyHostPort()},
	} {
		if f.got != f.want {
			t.Errorf("%s: recipe %v, mtlsgate %v", f.name, f.got, f.want)
		}
	}
}

// productManager is the connection manager of a site's HTTPS chain in
// mtlsgate's golden listeners.
func productManager(t *testing.T) *hcmv3.HttpConnectionManager {
	t.Helper()
	b, err := os.ReadFile(productListeners)
	if err != nil {
		t.Fatal(err)
	}
	var docs []any
	if err := yaml.Unmarshal(b, &docs); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		js, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var l listenerv3.Listener
		decodeJSON(t, productListeners, js, &l)
		if l.GetName() == xds.HTTPSListener {
			return unpack(t, l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig(), &hcmv3.HttpConnectionManager{})
		}
	}
	t.Fatalf("%s: no %s listener", productListeners, xds.HTTPSListener)
	return nil
}

// TestPlainEnvoyCluster checks the cluster: HTTP/2, TLS presenting the
// node certificate and verifying mtlsgate, exactly as the bootstrap
// `mtlsgate envoy bootstrap` writes.
func TestPlainEnvoyCluster(t *testing.T) {
	var c clusterv3.Cluster
	decodeFile(t, clusterFile, &c)
	if c.GetName() != envoy.AuthzClusterName {
		t.Errorf("cluster %q, want %s", c.GetName(), envoy.AuthzClusterName)
	}
	opts := unpack(t, c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"], &httpv3.HttpProtocolOptions{})
	if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Error("the cluster must speak HTTP/2 (gRPC)")
	}
	up := unpack(t, c.GetTransportSocket().GetTypedConfig(), &tlsv3.UpstreamTlsContext{})
	common := up.GetCommonTlsContext()
	if len(common.GetTlsCertificateSdsSecretConfigs())+len(common.GetTlsCertificates()) == 0 {
		t.Error("the cluster must present a node certificate")
	}
	if common.GetValidationContextSdsSecretConfig() == nil {
		t.Error("the cluster must verify mtlsgate's certificate")
	}
	ref := bootstrapCluster(t)
	if !proto.Equal(ref.GetTransportSocket(), c.GetTransportSocket()) {
		t.Errorf("transport socket differs from the bootstrap's:\nrecipe:    %v\nbootstrap: %v", text(c.GetTransportSocket()), text(ref.GetTransportSocket()))
	}
	ro, co := ref.GetTypedExtensionProtocolOptions(), c.GetTypedExtensionProtocolOptions()
	if len(ro) != len(co) {
		t.Errorf("protocol options: recipe %d, bootstrap %d", len(co), len(ro))
	}
	for k, v := range ro {
		if !proto.Equal(v, co[k]) {
			t.Errorf("protocol options %s differ from the bootstrap's", k)
		}
	}
}

// bootstrapCluster is the ext_authz cluster of a bootstrap for the
// recipe's credentials directory.
func bootstrapCluster(t *testing.T) *clusterv3.Cluster {
	t.Helper()
	b, err := envoy.Bootstrap(envoy.BootstrapOptions{NodeID: "edge-7", Dir: credentialsDir})
	if err != nil {
		t.Fatal(err)
	}
	return findCluster(t, b)
}

// text renders m for a failure message.
func text(m proto.Message) string { return prototext.MarshalOptions{}.Format(m) }

func findCluster(t *testing.T, b *bootstrapv3.Bootstrap) *clusterv3.Cluster {
	t.Helper()
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == envoy.AuthzClusterName {
			return proto.Clone(c).(*clusterv3.Cluster)
		}
	}
	t.Fatal("the bootstrap has no ext_authz cluster")
	return nil
}
