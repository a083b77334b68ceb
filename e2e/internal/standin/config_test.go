package standin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"gopkg.in/yaml.v3"
)

const goldenDir = "../../../xds/testdata"

func inline(s string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
}

func testProxy() *Proxy {
	return &Proxy{o: Options{ListenerAddrs: map[string]string{"https": "127.0.0.1:0", "http": "127.0.0.1:0"}},
		boot: &bootstrapCfg{static: map[string]*clusterCfg{}}}
}

// goldenFiles maps the Envoy-host paths of the golden outputs to files
// of the repository holding the same kind of content.
var goldenFiles = map[string]string{
	"/etc/ssl/certs/ca-certificates.crt": goldenDir + "/certs/partners.pem",
	"/etc/envoy/certs/wild.pem":          goldenDir + "/certs/wild.pem",
	"/etc/envoy/certs/wild.key":          goldenDir + "/certs/wild.key",
}

// loadGolden reads xds/testdata/out/<name>.<kind>.yaml.
func loadGolden(t *testing.T, path string, typeURL string) []proto.Message {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []any
	if err := yaml.Unmarshal(raw, &docs); err != nil {
		t.Fatal(err)
	}
	var out []proto.Message
	for _, d := range docs {
		j, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := newResource(typeURL)
		if err := protojson.Unmarshal(j, m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rewriteFiles(t, m.ProtoReflect())
		out = append(out, m)
	}
	return out
}

// rewriteFiles points filename data sources at goldenFiles, inside Any
// too.
func rewriteFiles(t *testing.T, m protoreflect.Message) {
	switch v := m.Interface().(type) {
	case *corev3.DataSource:
		if f, ok := goldenFiles[v.GetFilename()]; ok {
			v.Specifier = &corev3.DataSource_Filename{Filename: f}
		}
		return
	case *anypb.Any:
		inner, err := v.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		rewriteFiles(t, inner.ProtoReflect())
		if v.Value, err = proto.Marshal(inner); err != nil {
			t.Fatal(err)
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool { rewriteFiles(t, mv.Message()); return true })
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := range v.List().Len() {
					rewriteFiles(t, v.List().Get(i).Message())
				}
			}
		case fd.Message() != nil:
			rewriteFiles(t, v.Message())
		}
		return true
	})
}

var goldenKinds = map[string]string{"listeners": ListenerType, "routes": RouteType, "clusters": ClusterType, "secrets": SecretType}

// TestGoldenAccepted: everything mtlsgate's translation emits (its golden
// outputs) is implemented by the stand-in.
func TestGoldenAccepted(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(goldenDir, "out", "*.yaml"))
	if len(paths) == 0 {
		t.Fatal("no golden outputs")
	}
	p := testProxy()
	for _, path := range paths {
		kind := strings.Split(filepath.Base(path), ".")[1]
		for _, m := range loadGolden(t, path, goldenKinds[kind]) {
			a, err := anypb.New(m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.decodeResource(goldenKinds[kind], a); err != nil {
				t.Errorf("%s: %v", filepath.Base(path), err)
			}
		}
	}
}

// editAny changes the message inside a typed config.
func editAny[T proto.Message](t *testing.T, a *anypb.Any, m T, edit func(T)) {
	t.Helper()
	if err := a.UnmarshalTo(m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	a.Value = b
}

// golden returns a fresh copy of the named golden resource.
func golden(t *testing.T, file, typeURL, name string) proto.Message {
	t.Helper()
	for _, m := range loadGolden(t, filepath.Join(goldenDir, "out", file), typeURL) {
		if m.ProtoReflect().Get(m.ProtoReflect().Descriptor().Fields().ByName("name")).String() == name {
			return m
		}
	}
	t.Fatalf("%s: no %s", file, name)
	return nil
}

// siteHCM edits the connection manager of the https listener's first chain.
func siteHCM(t *testing.T, edit func(*hcmv3.HttpConnectionManager)) proto.Message {
	l := golden(t, "modes.listeners.yaml", ListenerType, "https").(*listenerv3.Listener)
	editAny(t, l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig(), &hcmv3.HttpConnectionManager{}, edit)
	return l
}

// TestRejections: anything the stand-in does not implement is refused,
// with a message naming it.
func TestRejections(t *testing.T) {
	https := func() *listenerv3.Listener {
		return golden(t, "modes.listeners.yaml", ListenerType, "https").(*listenerv3.Listener)
	}
	origin := func() *clusterv3.Cluster {
		return golden(t, "modes.clusters.yaml", ClusterType, "origin/app.example.net").(*clusterv3.Cluster)
	}
	route := func() *routev3.RouteConfiguration {
		return golden(t, "modes.routes.yaml", RouteType, "https/app.example.com").(*routev3.RouteConfiguration)
	}
	vcSecret := func() *tlsv3.Secret {
		return golden(t, "modes.secrets.yaml", SecretType, "client-ca/app.example.com").(*tlsv3.Secret)
	}
	for _, tc := range []struct {
		name, want string
		typeURL    string
		m          func() proto.Message
	}{
		{"listener field", "tcp_backlog_size", ListenerType, func() proto.Message {
			l := https()
			l.TcpBacklogSize = wrapperspb.UInt32(1)
			return l
		}},
		{"a buffer below a TLS record", "per_connection_buffer_limit_bytes below", ListenerType, func() proto.Message {
			l := https()
			l.PerConnectionBufferLimitBytes = wrapperspb.UInt32(1)
			return l
		}},
		{"a request log filter other than failures", "only the filter", ListenerType, func() proto.Message {
			return siteHCM(t, func(h *hcmv3.HttpConnectionManager) { h.GetAccessLog()[0].Filter = nil })
		}},
		{"headers with underscores rejected", "headers_with_underscores_action", ListenerType, func() proto.Message {
			return siteHCM(t, func(h *hcmv3.HttpConnectionManager) {
				h.CommonHttpProtocolOptions.HeadersWithUnderscoresAction = corev3.HttpProtocolOptions_REJECT_REQUEST
			})
		}},
		{"a filter on the connection log", "without a filter", ListenerType, func() proto.Message {
			l := https()
			l.AccessLog[0].Filter = &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{
				ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{}}}
			return l
		}},
		{"health checks on a CDS cluster", "health_checks", ClusterType, func() proto.Message {
			c := origin()
			c.HealthChecks = []*corev3.HealthCheck{{Timeout: durationpb.New(time.Second), Interval: durationpb.New(time.Second),
				UnhealthyThreshold: wrapperspb.UInt32(2), HealthyThreshold: wrapperspb.UInt32(1),
				HealthChecker: &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{}}}}
			return c
		}},
		{"no bind address", "no ListenerAddrs entry", ListenerType, func() proto.Message {
			l := https()
			l.Name = "admin"
			return l
		}},
		{"listener filter", "only a single", ListenerType, func() proto.Message {
			l := https()
			l.ListenerFilters = append(l.ListenerFilters, proto.Clone(l.ListenerFilters[0]).(*listenerv3.ListenerFilter))
			return l
		}},
		{"duplicate server name", "same match", ListenerType, func() proto.Message {
			l := https()
			l.FilterChains[1].FilterChainMatch.ServerNames = l.FilterChains[0].FilterChainMatch.ServerNames
			return l
		}},
		{"partial wildcard", "server name", ListenerType, func() proto.Message {
			l := https()
			l.FilterChains[0].FilterChainMatch.ServerNames = []string{"*app.example.com"}
			return l
		}},
		{"codec", "value HTTP2", ListenerType, func() proto.Message {
			return siteHCM(t, func(h *hcmv3.HttpConnectionManager) { h.CodecType = hcmv3.HttpConnectionManager_HTTP2 })
		}},
		{"nested field", "server_name", ListenerType, func() proto.Message {
			return siteHCM(t, func(h *hcmv3.HttpConnectionManager) { h.ServerName = "x" })
		}},
		{"remote address", "use_remote_address", ListenerType, func() proto.Message {
			return siteHCM(t, func(h *hcmv3.HttpConnectionManager) { h.UseRemoteAddress = wrapperspb.Bool(false) })
		}},
		{"fail open", "failure_mode_allow", ListenerType, func() proto.Message {
			return siteHCM(t, func(h *hcmv3.HttpConnectionManager) {
				editAny(t, h.HttpFilters[0].GetTypedConfig(), &extauthzv3.ExtAuthz{}, func(e *extauthzv3.ExtAuthz) { e.FailureModeAllow = true })
			})
		}},
		{"filter order", "not implemented here", ListenerType, func() proto.Message {
			return siteHCM(t, func(h *hcmv3.HttpConnectionManager) {
				h.HttpFilters[0], h.HttpFilters[1] = h.HttpFilters[1], h.HttpFilters[0]
			})
		}},
		{"typed config of another type", "typed_config", ListenerType, func() proto.Message {
			return siteHCM(t, func(h *hcmv3.HttpConnectionManager) {
				a, _ := anypb.New(&tlsinspectorv3.TlsInspector{})
				h.HttpFilters[1].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}
			})
		}},
		{"unknown typed config", "typed config", ListenerType, func() proto.Message {
			l := https()
			l.ListenerFilters[0].GetTypedConfig().TypeUrl = "type.googleapis.com/example.Unknown"
			return l
		}},
		{"route timeout", "timeout", RouteType, func() proto.Message {
			r := route()
			r.VirtualHosts[0].Routes[0].GetRoute().Timeout = durationpb.New(1)
			return r
		}},
		{"regex match", "safe_regex", RouteType, func() proto.Message {
			r := route()
			r.VirtualHosts[0].Routes[0].Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: ".*"}}
			return r
		}},
		{"ext_authz disabled false", "value false", RouteType, func() proto.Message {
			r := route()
			a, _ := anypb.New(&extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_Disabled{Disabled: false}})
			r.VirtualHosts[0].Routes[0].TypedPerFilterConfig[extAuthzName] = a
			return r
		}},
		{"direct response body", "body", RouteType, func() proto.Message {
			r := route()
			r.VirtualHosts[0].Routes[0].Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
				Status: 403, Body: inline("no")}}
			return r
		}},
		{"direct response status", "Status", RouteType, func() proto.Message {
			r := route()
			r.VirtualHosts[0].Routes[0].Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 100}}
			return r
		}},
		{"cluster type", "value LOGICAL_DNS", ClusterType, func() proto.Message {
			c := origin()
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS}
			return c
		}},
		{"SAN matcher kind", "prefix", ClusterType, func() proto.Message {
			c := origin()
			editAny(t, c.GetTransportSocket().GetTypedConfig(), &tlsv3.UpstreamTlsContext{}, func(u *tlsv3.UpstreamTlsContext) {
				u.GetCommonTlsContext().GetValidationContext().MatchTypedSubjectAltNames[0].Matcher.MatchPattern =
					&matcherv3.StringMatcher_Prefix{Prefix: "origin"}
			})
			return c
		}},
		{"unreadable CA file", "no such file", ClusterType, func() proto.Message {
			c := origin()
			editAny(t, c.GetTransportSocket().GetTypedConfig(), &tlsv3.UpstreamTlsContext{}, func(u *tlsv3.UpstreamTlsContext) {
				u.GetCommonTlsContext().GetValidationContext().TrustedCa = &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/nonexistent/ca.pem"}}
			})
			return c
		}},
		{"client SAN matchers", "SAN matchers", SecretType, func() proto.Message {
			s := vcSecret()
			s.GetValidationContext().MatchTypedSubjectAltNames = []*tlsv3.SubjectAltNameMatcher{{SanType: tlsv3.SubjectAltNameMatcher_DNS,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "x"}}}}
			return s
		}},
		{"bad CRL", "crl", SecretType, func() proto.Message {
			s := vcSecret()
			s.GetValidationContext().Crl = inline("not a CRL")
			return s
		}},
	} {
		a, err := anypb.New(tc.m())
		if err != nil {
			t.Fatal(err)
		}
		_, err = testProxy().decodeResource(tc.typeURL, a)
		t.Logf("%s: %v", tc.name, err)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}

// TestUnknownFields: fields newer than the stand-in's protos are refused.
func TestUnknownFields(t *testing.T) {
	l := golden(t, "modes.listeners.yaml", ListenerType, "http")
	b, err := proto.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 9999, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	_, err = testProxy().decodeResource(ListenerType, &anypb.Any{TypeUrl: ListenerType, Value: b})
	if err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("got %v, want unknown fields refused", err)
	}
}
