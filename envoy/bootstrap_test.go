package envoy

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// exampleDir is where the README's example puts the credentials.
const exampleDir = "/etc/envoy/mtlsgate"

// goldenCases are the rendered files checked byte for byte: bootstraps
// (opts) and, with secret set, an SDS file.
var goldenCases = []struct {
	file   string
	opts   BootstrapOptions
	secret func(dir string) (*discoveryv3.DiscoveryResponse, error)
}{
	// A DNS name for the control plane, a named fleet, a second admin
	// port, credentials.
	{file: "testdata/bootstrap.yaml", opts: BootstrapOptions{NodeID: "edge-1", Cluster: "eu-west",
		XDSAddr: "mtlsgate.internal:18000", AuthzAddr: "mtlsgate.internal:9191", AdminAddr: "127.0.0.1:9902", Dir: "/var/lib/envoy/edge-1"}},
	// Delta xDS over IPv6 loopback, plaintext.
	{file: "testdata/bootstrap-delta.yaml", opts: BootstrapOptions{NodeID: "edge-2", Cluster: "eu-west",
		XDSAddr: "[::1]:18000", AuthzAddr: "[::1]:9191", Delta: true, AdminAddr: "[::1]:9901", Plaintext: true}},
	// Three replicas, by IP for xDS and by name for ext_authz:
	// health-checked failover.
	{file: "testdata/bootstrap-replicas.yaml", opts: BootstrapOptions{NodeID: "edge-3", Cluster: "eu-west",
		XDSAddr: "10.0.0.1:18000,10.0.0.2:18000,10.0.0.3:18000", AuthzAddr: "mtlsgate-1.internal:9191, 10.0.0.2:9191",
		Dir: "/var/lib/envoy/edge-3"}},
	// A container with 1 GiB for Envoy's heap and fewer connections: the
	// heap monitor and its shrink and stop actions.
	{file: "testdata/bootstrap-overload.yaml", opts: BootstrapOptions{NodeID: "edge-4", Dir: "/etc/envoy/mtlsgate",
		MaxConnections: 10000, MaxHeapBytes: 1 << 30}},
	// The example the README points at: every default.
	{file: "example/bootstrap.yaml", opts: BootstrapOptions{NodeID: "envoy-1", Dir: exampleDir}},
	{file: "example/sds/node.yaml", opts: BootstrapOptions{Dir: exampleDir}, secret: NodeSecret},
	{file: "example/sds/ca.yaml", opts: BootstrapOptions{Dir: exampleDir}, secret: CASecret},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.file, func(t *testing.T) {
			var got []byte
			if tc.secret != nil {
				got = renderSecret(t, tc.secret, tc.opts.Dir)
			} else {
				got = render(t, tc.opts)
			}
			if *update {
				if err := os.WriteFile(tc.file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatalf("%v (run go test ./envoy -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs (- want, + got; run go test ./envoy -update to accept):\n%s",
					tc.file, lineDiff(string(want), string(got)))
			}
		})
	}
}

// TestGoldenFilesListed makes sure no stale golden file lingers.
func TestGoldenFilesListed(t *testing.T) {
	known := map[string]bool{}
	for _, tc := range goldenCases {
		known[tc.file] = true
	}
	for _, pattern := range []string{"testdata/*.yaml", "example/*.yaml", "example/sds/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !known[filepath.ToSlash(f)] {
				t.Errorf("%s is not produced by any golden case", f)
			}
		}
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	for _, tc := range goldenCases {
		if tc.secret != nil {
			continue // TestSecretFiles
		}
		t.Run(tc.file, func(t *testing.T) {
			want, err := Bootstrap(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := parseYAML(t, render(t, tc.opts))
			if !proto.Equal(got, want) {
				t.Errorf("round trip changed the bootstrap:\n got %v\nwant %v", got, want)
			}
			validateAll(t, got)
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	want, err := Bootstrap(BootstrapOptions{NodeID: "edge-1", Delta: true, Dir: "/creds"})
	if err != nil {
		t.Fatal(err)
	}
	js, err := JSON(want)
	if err != nil {
		t.Fatal(err)
	}
	got := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("JSON round trip changed the bootstrap:\n%s", js)
	}
	if !strings.HasSuffix(string(js), "}\n") || !strings.Contains(string(js), "\n  \"node\": {") {
		t.Errorf("JSON is not indented as expected:\n%s", js)
	}
}

func TestBootstrapDefaults(t *testing.T) {
	b, err := Bootstrap(BootstrapOptions{NodeID: "n", Dir: "/creds"})
	if err != nil {
		t.Fatal(err)
	}
	if got := hostPort(endpointOf(t, b, AuthzClusterName)); got != DefaultAuthzAddr {
		t.Errorf("ext_authz endpoint %s, want %s", got, DefaultAuthzAddr)
	}
	if got := b.GetNode().GetCluster(); got != DefaultCluster {
		t.Errorf("cluster %q, want %q", got, DefaultCluster)
	}
	if got := b.GetDynamicResources().GetAdsConfig().GetApiType(); got != corev3.ApiConfigSource_GRPC {
		t.Errorf("api type %v, want GRPC", got)
	}
	if got := hostPort(b.GetAdmin().GetAddress()); got != DefaultAdminAddr {
		t.Errorf("admin %s, want %s", got, DefaultAdminAddr)
	}
	if got := hostPort(xdsEndpoint(t, b)); got != DefaultXDSAddr {
		t.Errorf("xDS endpoint %s, want %s", got, DefaultXDSAddr)
	}
}

func TestBootstrapAccepts(t *testing.T) {
	tests := []struct {
		name     string
		opts     BootstrapOptions
		wantType clusterv3.Cluster_DiscoveryType
		wantXDS  string
		wantAPI  corev3.ApiConfigSource_ApiType
	}{
		{"ipv4", BootstrapOptions{NodeID: "a", XDSAddr: "10.0.0.5:1", Plaintext: true}, clusterv3.Cluster_STATIC, "10.0.0.5:1", corev3.ApiConfigSource_GRPC},
		{"ipv6", BootstrapOptions{NodeID: "a", XDSAddr: "[::1]:65535", Plaintext: true}, clusterv3.Cluster_STATIC, "::1:65535", corev3.ApiConfigSource_GRPC},
		{"ipv6 canonical", BootstrapOptions{NodeID: "a", XDSAddr: "[2001:DB8:0::1]:18000", Plaintext: true}, clusterv3.Cluster_STATIC, "2001:db8::1:18000", corev3.ApiConfigSource_GRPC},
		{"localhost", BootstrapOptions{NodeID: "a", XDSAddr: "localhost:18000", Plaintext: true}, clusterv3.Cluster_STRICT_DNS, "localhost:18000", corev3.ApiConfigSource_GRPC},
		{"fqdn", BootstrapOptions{NodeID: "a", XDSAddr: "xds.Example.com.:18000", Plaintext: true}, clusterv3.Cluster_STRICT_DNS, "xds.Example.com.:18000", corev3.ApiConfigSource_GRPC},
		{"compose name", BootstrapOptions{NodeID: "a", XDSAddr: "mtls_gate:18000", Plaintext: true}, clusterv3.Cluster_STRICT_DNS, "mtls_gate:18000", corev3.ApiConfigSource_GRPC},
		{"delta", BootstrapOptions{NodeID: "édge-1", Delta: true, Plaintext: true}, clusterv3.Cluster_STATIC, DefaultXDSAddr, corev3.ApiConfigSource_DELTA_GRPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Bootstrap(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			c := clusterOf(t, b, XDSClusterName)
			if c.GetType() != tt.wantType {
				t.Errorf("cluster type %v, want %v", c.GetType(), tt.wantType)
			}
			if dns := c.GetDnsLookupFamily() == clusterv3.Cluster_V4_PREFERRED; dns != (tt.wantType == clusterv3.Cluster_STRICT_DNS) {
				t.Errorf("dns_lookup_family %v with type %v", c.GetDnsLookupFamily(), c.GetType())
			}
			if got := hostPort(xdsEndpoint(t, b)); got != tt.wantXDS {
				t.Errorf("xDS endpoint %s, want %s", got, tt.wantXDS)
			}
			if got := b.GetDynamicResources().GetAdsConfig().GetApiType(); got != tt.wantAPI {
				t.Errorf("api type %v, want %v", got, tt.wantAPI)
			}
			validateAll(t, b)
		})
	}
}

func TestBootstrapRefuses(t *testing.T) {
	ok := BootstrapOptions{NodeID: "edge-1", Dir: "/creds"}
	with := func(f func(*BootstrapOptions)) BootstrapOptions {
		o := ok
		f(&o)
		return o
	}
	tests := []struct {
		name      string
		opts      BootstrapOptions
		wantField string
		wantIn    string
	}{
		{"no node id", BootstrapOptions{}, "NodeID", "must not be empty"},
		{"negative connections", with(func(o *BootstrapOptions) { o.MaxConnections = -1 }), "MaxConnections", "at least 1"},
		{"tiny heap", with(func(o *BootstrapOptions) { o.MaxHeapBytes = 1 << 20 }), "MaxHeapBytes", "at least 64 MiB"},
		{"negative heap", with(func(o *BootstrapOptions) { o.MaxHeapBytes = -1 }), "MaxHeapBytes", "0 (no heap monitor)"},
		{"space in node id", with(func(o *BootstrapOptions) { o.NodeID = "edge 1" }), "NodeID", "spaces"},
		{"newline in node id", with(func(o *BootstrapOptions) { o.NodeID = "edge-1\n" }), "NodeID", "control characters"},
		{"tab in cluster", with(func(o *BootstrapOptions) { o.Cluster = "eu\twest" }), "Cluster", "spaces"},
		{"xds without port", with(func(o *BootstrapOptions) { o.XDSAddr = "127.0.0.1" }), "XDSAddr", "want host:port"},
		{"xds bare ipv6", with(func(o *BootstrapOptions) { o.XDSAddr = "::1" }), "XDSAddr", "want host:port"},
		{"xds without host", with(func(o *BootstrapOptions) { o.XDSAddr = ":18000" }), "XDSAddr", "missing host"},
		{"xds port 0", with(func(o *BootstrapOptions) { o.XDSAddr = "127.0.0.1:0" }), "XDSAddr", "port must be"},
		{"xds port too big", with(func(o *BootstrapOptions) { o.XDSAddr = "127.0.0.1:65536" }), "XDSAddr", "port must be"},
		{"xds port name", with(func(o *BootstrapOptions) { o.XDSAddr = "127.0.0.1:grpc" }), "XDSAddr", "port must be"},
		{"xds url", with(func(o *BootstrapOptions) { o.XDSAddr = "http://127.0.0.1:18000" }), "XDSAddr", "want host:port"},
		{"xds unspecified v4", with(func(o *BootstrapOptions) { o.XDSAddr = "0.0.0.0:18000" }), "XDSAddr", "unspecified"},
		{"xds unspecified v6", with(func(o *BootstrapOptions) { o.XDSAddr = "[::]:18000" }), "XDSAddr", "unspecified"},
		{"xds ipv6 zone", with(func(o *BootstrapOptions) { o.XDSAddr = "[fe80::1%eth0]:18000" }), "XDSAddr", "zones"},
		{"xds bad name", with(func(o *BootstrapOptions) { o.XDSAddr = "xds!.example:18000" }), "XDSAddr", "neither"},
		{"xds leading hyphen", with(func(o *BootstrapOptions) { o.XDSAddr = "-xds.example:18000" }), "XDSAddr", "neither"},
		{"xds empty label", with(func(o *BootstrapOptions) { o.XDSAddr = "xds..example:18000" }), "XDSAddr", "neither"},
		{"xds mistyped ip", with(func(o *BootstrapOptions) { o.XDSAddr = "127.0.0:18000" }), "XDSAddr", "neither"},
		{"xds long label", with(func(o *BootstrapOptions) { o.XDSAddr = strings.Repeat("a", 64) + ".example:1" }), "XDSAddr", "neither"},
		{"authz without port", with(func(o *BootstrapOptions) { o.AuthzAddr = "127.0.0.1" }), "AuthzAddr", "want host:port"},
		{"authz unspecified", with(func(o *BootstrapOptions) { o.AuthzAddr = "[::]:9191" }), "AuthzAddr", "unspecified"},
		{"authz bad name", with(func(o *BootstrapOptions) { o.AuthzAddr = "a b:9191" }), "AuthzAddr", "neither"},
		{"no dir", with(func(o *BootstrapOptions) { o.Dir = "" }), "Dir", "needs credentials unless the bootstrap is plaintext"},
		{"relative dir", with(func(o *BootstrapOptions) { o.Dir = "creds" }), "Dir", "absolute"},
		{"unclean dir", with(func(o *BootstrapOptions) { o.Dir = "/etc/../creds" }), "Dir", "clean"},
		{"trailing slash", with(func(o *BootstrapOptions) { o.Dir = "/creds/" }), "Dir", "clean"},
		{"control in dir", with(func(o *BootstrapOptions) { o.Dir = "/cr\x1beds" }), "Dir", "control"},
		{"dir and plaintext", with(func(o *BootstrapOptions) { o.Plaintext = true }), "Dir", "plaintext bootstrap has no credentials"},
		{"non-ASCII node id with credentials", with(func(o *BootstrapOptions) { o.NodeID = "édge-1" }), "NodeID", "with credentials, node id"},
		{"fleet with a slash", with(func(o *BootstrapOptions) { o.Cluster = "eu/west" }), "Cluster", "with credentials, fleet"},
		{"node id too long", with(func(o *BootstrapOptions) { o.NodeID = strings.Repeat("n", 129) }), "NodeID", "more than 128"},
		{"admin name", with(func(o *BootstrapOptions) { o.AdminAddr = "localhost:9901" }), "AdminAddr", "must be an IP"},
		{"admin without port", with(func(o *BootstrapOptions) { o.AdminAddr = "127.0.0.1" }), "AdminAddr", "want host:port"},
		{"admin port 0", with(func(o *BootstrapOptions) { o.AdminAddr = "127.0.0.1:0" }), "AdminAddr", "port must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Bootstrap(tt.opts)
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("got %v, %v; want an *OptionError", b, err)
			}
			if oe.Field != tt.wantField || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q (field %s), want field %s and %q", err, oe.Field, tt.wantField, tt.wantIn)
			}
			if !strings.HasPrefix(err.Error(), "envoy: invalid "+tt.wantField+" ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line naming the field", err)
			}
		})
	}
}

// render is the YAML of the bootstrap of o.
func render(t *testing.T, o BootstrapOptions) []byte {
	t.Helper()
	b, err := Bootstrap(o)
	if err != nil {
		t.Fatal(err)
	}
	y, err := YAML(b)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// renderSecret is the YAML of an SDS file for dir.
func renderSecret(t *testing.T, f func(string) (*discoveryv3.DiscoveryResponse, error), dir string) []byte {
	t.Helper()
	r, err := f(dir)
	if err != nil {
		t.Fatal(err)
	}
	y, err := YAML(r)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// parseYAML reads a YAML bootstrap the way a YAML-to-JSON loader would:
// YAML to generic values, to JSON, to protojson.
func parseYAML(t *testing.T, y []byte) *bootstrapv3.Bootstrap {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(y, &v); err != nil {
		t.Fatalf("YAML does not parse: %v", err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		t.Fatalf("not a Bootstrap: %v\n%s", err, js)
	}
	return b
}

// validateAll fails unless b and every typed config packed in its static
// clusters pass their generated validation, and the clusters speak HTTP/2
// with the keepalive documented.
func validateAll(t *testing.T, b *bootstrapv3.Bootstrap) {
	t.Helper()
	if err := b.ValidateAll(); err != nil {
		t.Errorf("bootstrap: %v", err)
	}
	clusters := b.GetStaticResources().GetClusters()
	if len(clusters) != 2 {
		t.Fatalf("%d static clusters, want 2", len(clusters))
	}
	for _, c := range clusters {
		opts := &httpv3.HttpProtocolOptions{}
		if err := c.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey].UnmarshalTo(opts); err != nil {
			t.Fatalf("%s: protocol options: %v", c.GetName(), err)
		}
		if err := opts.ValidateAll(); err != nil {
			t.Errorf("%s: protocol options: %v", c.GetName(), err)
		}
		ka := opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions().GetConnectionKeepalive()
		if ka.GetInterval().AsDuration() != KeepaliveInterval || ka.GetTimeout().AsDuration() != KeepaliveTimeout {
			t.Errorf("%s: keepalive %v, want interval %v and timeout %v", c.GetName(), ka, KeepaliveInterval, KeepaliveTimeout)
		}
		if ts := c.GetTransportSocket(); ts != nil {
			up := &tlsv3.UpstreamTlsContext{}
			if err := ts.GetTypedConfig().UnmarshalTo(up); err != nil {
				t.Fatalf("%s: transport socket: %v", c.GetName(), err)
			}
			if err := up.ValidateAll(); err != nil {
				t.Errorf("%s: upstream TLS: %v", c.GetName(), err)
			}
		}
	}
}

// clusterOf is the static cluster named name.
func clusterOf(t *testing.T, b *bootstrapv3.Bootstrap, name string) *clusterv3.Cluster {
	t.Helper()
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == name {
			return c
		}
	}
	t.Fatalf("no static cluster %s", name)
	return nil
}

// endpointOf is the one address of the static cluster named name.
func endpointOf(t *testing.T, b *bootstrapv3.Bootstrap, name string) *corev3.Address {
	t.Helper()
	return clusterOf(t, b, name).GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress()
}

// xdsEndpoint is the one address of the xDS cluster.
func xdsEndpoint(t *testing.T, b *bootstrapv3.Bootstrap) *corev3.Address {
	t.Helper()
	return endpointOf(t, b, XDSClusterName)
}

// hostPort is a socket address as host:port (no brackets).
func hostPort(a *corev3.Address) string {
	sa := a.GetSocketAddress()
	return fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
}

// lineDiff is a minimal line diff of want and got: common lines are
// prefixed "  ", lines only in want "- ", lines only in got "+ ".
func lineDiff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	// lcs[i][j] is the length of the longest common subsequence of a[i:], b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out.WriteString("  " + a[i] + "\n")
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("- " + a[i] + "\n")
			i++
		default:
			out.WriteString("+ " + b[j] + "\n")
			j++
		}
	}
	return out.String()
}

func TestLineDiff(t *testing.T) {
	got := lineDiff("a\nb\nc", "a\nx\nc")
	if want := "  a\n- b\n+ x\n  c\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestReplicaAddresses: a list of replicas gives one endpoint each and a
// gRPC health check of the listener's service; a mistake in the list names
// the field.
func TestReplicaAddresses(t *testing.T) {
	b, err := Bootstrap(BootstrapOptions{NodeID: "a", XDSAddr: "10.0.0.1:1, 10.0.0.2:1", AuthzAddr: "10.0.0.1:2,authz.internal:2", Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.GetStaticResources().GetClusters() {
		hc := c.GetHealthChecks()
		want := map[string]string{XDSClusterName: xdsHealthService, AuthzClusterName: authzHealthService}[c.GetName()]
		if len(c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()) != 2 || len(hc) != 1 || hc[0].GetGrpcHealthCheck().GetServiceName() != want {
			t.Errorf("cluster %s: endpoints or health check wrong: %v", c.GetName(), c)
		}
	}
	if typ := b.GetStaticResources().GetClusters()[1].GetType(); typ != clusterv3.Cluster_STRICT_DNS {
		t.Errorf("an IP and a name: type %v, want STRICT_DNS", typ)
	}
	for _, bad := range []string{"10.0.0.1:1,10.0.0.1:1", "10.0.0.1:1,", strings.Repeat("10.0.0.1:1,", 16) + "10.0.0.9:1"} {
		var oe *OptionError
		if _, err := Bootstrap(BootstrapOptions{NodeID: "a", XDSAddr: bad, Plaintext: true}); !errors.As(err, &oe) || oe.Field != "XDSAddr" {
			t.Errorf("XDSAddr %q: %v", bad, err)
		}
	}
}
