package envoy_test

import (
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/xds"
)

const (
	istioDir    = "../istio"
	egDir       = "../envoy-gateway"
	k8sBase     = "../kubernetes/base"
	authzSvc    = "mtlsgate-authz"
	authzPortNm = "ext-authz"
)

// authzService is what deploy/kubernetes says of the ext_authz Service:
// its namespace, the port's number, the pods it selects.
type authzService struct {
	ns   string
	port int
	pods map[string]any
}

// kubernetesAuthz reads deploy/kubernetes, and checks that its port is
// the one mtlsgate's ext_authz listens on there and by default.
func kubernetesAuthz(t *testing.T) authzService {
	t.Helper()
	base := readDocs(t, k8sBase, false)
	var s authzService
	for _, d := range readDocs(t, k8sBase+"/mtlsgate", false) {
		if d.kind != "v1/Service" || d.name() != authzSvc {
			continue
		}
		s.pods, _ = get(d.v, "spec.selector").(map[string]any)
		for _, p := range list(d.v, "spec.ports") {
			if str(get(p, "name")) == authzPortNm {
				s.port, _ = p.(map[string]any)["port"].(int)
			}
		}
	}
	for _, d := range base {
		if d.kind == "v1/Namespace" {
			s.ns = d.name()
		}
	}
	if s.ns == "" || s.port == 0 || len(s.pods) == 0 {
		t.Fatalf("deploy/kubernetes: no Service %s with a port %s in a namespace: %+v", authzSvc, authzPortNm, s)
	}
	_, def, _ := net.SplitHostPort(envoy.DefaultAuthzAddr)
	for _, d := range readDocs(t, k8sBase+"/mtlsgate", false) {
		if a := str(get(d.v, "authz_addr")); a != "" {
			_, p, _ := net.SplitHostPort(a)
			if p != strconv.Itoa(s.port) || p != def {
				t.Errorf("ext_authz port: Service %d, config.yaml %s, mtlsgate's default %s", s.port, p, def)
			}
		}
	}
	return s
}

func (s authzService) fqdn() string { return authzSvc + "." + s.ns + ".svc.cluster.local" }

// checkNetworkPolicy: the recipe's policy admits the gateway to the
// ext_authz port of mtlsgate's pods.
func checkNetworkPolicy(t *testing.T, docs []doc, s authzService) {
	t.Helper()
	np := only(t, docs, "networking.k8s.io/v1/NetworkPolicy")
	sel, _ := json.Marshal(get(np.v, "spec.podSelector.matchLabels"))
	want, _ := json.Marshal(s.pods)
	if str(get(np.v, "metadata.namespace")) != s.ns || string(sel) != string(want) {
		t.Errorf("%s: must select mtlsgate's pods %s in %s, got %s", np.file, want, s.ns, sel)
	}
	for _, in := range list(np.v, "spec.ingress") {
		for _, p := range list(in, "ports") {
			if get(p, "port") != s.port {
				t.Errorf("%s: port %v, want %d", np.file, get(p, "port"), s.port)
			}
		}
	}
}

// checkTimeout: at most mtlsgate's default xds.authz_timeout.
func checkTimeout(t *testing.T, what string, d time.Duration) {
	t.Helper()
	if limit := xds.DefaultOptions().AuthzTimeout; d <= 0 || d > limit {
		t.Errorf("%s: timeout %s, want positive and at most mtlsgate's xds.authz_timeout %s", what, d, limit)
	}
}

func TestIstioRecipe(t *testing.T) {
	docs := loadDocs(t, istioDir)
	checkFields(t, docs)
	s := kubernetesAuthz(t)
	checkNetworkPolicy(t, docs, s)

	values := only(t, docs, "helm-values/istiod")
	providers := list(values.v, "meshConfig.extensionProviders")
	if len(providers) != 1 {
		t.Fatalf("want one extension provider, got %d", len(providers))
	}
	p := get(providers[0], "envoyExtAuthzGrpc")
	if str(get(p, "service")) != s.fqdn() || get(p, "port") != s.port {
		t.Errorf("provider %v:%v, want %s:%d", get(p, "service"), get(p, "port"), s.fqdn(), s.port)
	}
	// MeshConfig is read as protobuf JSON: a Duration is "0.250s".
	var d durationpb.Duration
	if err := protojson.Unmarshal([]byte(strconv.Quote(str(get(p, "timeout")))), &d); err != nil {
		t.Errorf("provider timeout %q: %v", get(p, "timeout"), err)
	}
	checkTimeout(t, "istio provider", d.AsDuration())
	if get(p, "statusOnError") != "503" {
		t.Errorf("statusOnError %v, want \"503\" (a string)", get(p, "statusOnError"))
	}

	policy := only(t, docs, "security.istio.io/v1/AuthorizationPolicy")
	if str(get(policy.v, "spec.provider.name")) != str(get(providers[0], "name")) {
		t.Errorf("AuthorizationPolicy names provider %v, istiod has %v", get(policy.v, "spec.provider.name"), get(providers[0], "name"))
	}
	dr := only(t, docs, "networking.istio.io/v1/DestinationRule")
	if str(get(dr.v, "spec.host")) != s.fqdn() || str(get(dr.v, "spec.trafficPolicy.tls.credentialName")) == "" {
		t.Errorf("DestinationRule: host %v, want %s, with a credentialName", get(dr.v, "spec.host"), s.fqdn())
	}
	if sans := list(dr.v, "spec.trafficPolicy.tls.subjectAltNames"); len(sans) != 1 || sans[0] != "spiffe://mtlsgate/server" {
		t.Errorf("DestinationRule must take only spiffe://mtlsgate/server for mtlsgate, got %v", sans)
	}
	checkIstioHosts(t, docs, policy)
	checkEnvoyFilter(t, only(t, docs, "networking.istio.io/v1alpha3/EnvoyFilter"))
}

// checkIstioHosts: every server of the Gateway is a host the CUSTOM
// policy sends to mtlsgate, and both modes are shown.
func checkIstioHosts(t *testing.T, docs []doc, policy doc) {
	t.Helper()
	checked := map[string]bool{}
	for _, r := range list(policy.v, "spec.rules") {
		for _, to := range list(r, "to") {
			for _, h := range list(to, "operation.hosts") {
				checked[str(h)] = true
			}
		}
	}
	modes := map[string]bool{}
	for _, srv := range list(only(t, docs, "networking.istio.io/v1/Gateway").v, "spec.servers") {
		modes[str(get(srv, "tls.mode"))] = true
		for _, h := range list(srv, "hosts") {
			if !checked[str(h)] {
				t.Errorf("Gateway host %v is not checked by the CUSTOM policy", h)
			}
		}
	}
	if !modes["MUTUAL"] || !modes["OPTIONAL_MUTUAL"] {
		t.Errorf("the Gateway must show MUTUAL and OPTIONAL_MUTUAL, has %v", modes)
	}
}

// checkEnvoyFilter decodes the patch value strictly as Envoy's listener
// filter (its typed_config an HttpConnectionManager) and checks that it
// adds Cert and Chain under SANITIZE_SET. A MERGE patch is a fragment
// (no name, no stat_prefix): its field names, types and @type are checked,
// not the required fields of a whole filter.
func checkEnvoyFilter(t *testing.T, ef doc) {
	t.Helper()
	patches := list(ef.v, "spec.configPatches")
	if len(patches) != 1 {
		t.Fatalf("%s: want one patch", ef.file)
	}
	js, err := json.Marshal(get(patches[0], "patch.value"))
	if err != nil {
		t.Fatal(err)
	}
	var f listenerv3.Filter
	if err := strict.Unmarshal(js, &f); err != nil {
		t.Fatalf("%s: %v", ef.file, err)
	}
	m := unpack(t, f.GetTypedConfig(), &hcmv3.HttpConnectionManager{})
	d := m.GetSetCurrentClientCertDetails()
	if m.GetForwardClientCertDetails() != hcmv3.HttpConnectionManager_SANITIZE_SET || !d.GetCert() || !d.GetChain() {
		t.Errorf("%s: want SANITIZE_SET with cert and chain, got %v", ef.file, text(m))
	}
	if str(get(patches[0], "match.listener.filterChain.filter.name")) != "envoy.filters.network.http_connection_manager" {
		t.Errorf("%s: the patch must match the HTTP connection manager", ef.file)
	}
}

func TestEnvoyGatewayRecipe(t *testing.T) {
	docs := loadDocs(t, egDir)
	checkFields(t, docs)
	s := kubernetesAuthz(t)
	checkNetworkPolicy(t, docs, s)

	sites := map[string]string{} // HTTPRoute name → its one hostname
	for _, r := range all(docs, "gateway.networking.k8s.io/v1/HTTPRoute") {
		if h := list(r.v, "spec.hostnames"); len(h) == 1 {
			sites[r.name()] = str(h[0])
		} else {
			t.Errorf("HTTPRoute %s: one hostname per route, one site per SecurityPolicy", r.name())
		}
	}
	for _, p := range all(docs, "gateway.envoyproxy.io/v1alpha1/SecurityPolicy") {
		checkSecurityPolicy(t, p, s, sites)
	}
	if len(sites) != 0 {
		t.Errorf("routes without a SecurityPolicy: %v", sites)
	}
	checkClientTraffic(t, docs)

	tls := only(t, docs, "gateway.networking.k8s.io/v1/BackendTLSPolicy")
	ref := list(tls.v, "spec.targetRefs")
	if str(get(tls.v, "metadata.namespace")) != s.ns || len(ref) != 1 || str(get(ref[0], "name")) != authzSvc || str(get(ref[0], "sectionName")) != authzPortNm {
		t.Errorf("BackendTLSPolicy must target %s/%s port %s", s.ns, authzSvc, authzPortNm)
	}
	if sans := list(tls.v, "spec.validation.subjectAltNames"); len(sans) != 1 || str(get(sans[0], "uri")) != "spiffe://mtlsgate/server" {
		t.Errorf("BackendTLSPolicy must take only spiffe://mtlsgate/server for mtlsgate, got %v", sans)
	}
	grant := only(t, docs, "gateway.networking.k8s.io/v1beta1/ReferenceGrant")
	if str(get(grant.v, "metadata.namespace")) != s.ns {
		t.Errorf("the ReferenceGrant must be in %s", s.ns)
	}
	proxy := only(t, docs, "gateway.envoyproxy.io/v1alpha1/EnvoyProxy")
	gw := only(t, docs, "gateway.networking.k8s.io/v1/Gateway")
	if str(get(gw.v, "spec.infrastructure.parametersRef.name")) != proxy.name() || str(get(proxy.v, "spec.backendTLS.clientCertificateRef.name")) == "" {
		t.Error("the Gateway must use the EnvoyProxy that presents the node certificate")
	}
}

// checkSecurityPolicy: gRPC to mtlsgate's Service, failing closed within
// mtlsgate's timeout, naming its route's site.
func checkSecurityPolicy(t *testing.T, p doc, s authzService, sites map[string]string) {
	t.Helper()
	refs := list(p.v, "spec.extAuth.grpc.backendRefs")
	if len(refs) != 1 || str(get(refs[0], "name")) != authzSvc || str(get(refs[0], "namespace")) != s.ns || get(refs[0], "port") != s.port {
		t.Errorf("SecurityPolicy %s: backendRefs %v, want %s.%s:%d", p.name(), refs, authzSvc, s.ns, s.port)
	}
	d, err := time.ParseDuration(str(get(p.v, "spec.extAuth.timeout")))
	if err != nil {
		t.Errorf("SecurityPolicy %s: %v", p.name(), err)
	}
	checkTimeout(t, "SecurityPolicy "+p.name(), d)
	targets := list(p.v, "spec.targetRefs")
	exts := list(p.v, "spec.extAuth.contextExtensions")
	if len(targets) != 1 || len(exts) != 1 || str(get(exts[0], "name")) != contract.SiteExtension {
		t.Fatalf("SecurityPolicy %s: one route, one context extension %q", p.name(), contract.SiteExtension)
	}
	route := str(get(targets[0], "name"))
	if site, ok := sites[route]; !ok || str(get(exts[0], "value")) != site {
		t.Errorf("SecurityPolicy %s names site %v for route %s (hostname %q)", p.name(), get(exts[0], "value"), route, site)
	}
	delete(sites, route)
}

// checkClientTraffic: every listener of the Gateway asks for client
// certificates and sets XFCC with the certificate; both modes are shown.
func checkClientTraffic(t *testing.T, docs []doc) {
	t.Helper()
	covered := map[string]string{}
	for _, p := range all(docs, "gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy") {
		details := strings.Fields(strings.Trim(str(get(p.v, "spec.headers.xForwardedClientCert.certDetailsToAdd")), "[]"))
		if !strings.Contains(strings.Join(details, " "), "Cert") {
			t.Errorf("ClientTrafficPolicy %s: XFCC without Cert: mtlsgate could verify nothing", p.name())
		}
		for _, r := range list(p.v, "spec.targetRefs") {
			covered[str(get(r, "sectionName"))] = str(get(p.v, "spec.tls.clientValidation.mode"))
		}
	}
	modes := map[string]bool{}
	for _, l := range list(only(t, docs, "gateway.networking.k8s.io/v1/Gateway").v, "spec.listeners") {
		m, ok := covered[str(get(l, "name"))]
		if !ok {
			t.Errorf("listener %v has no ClientTrafficPolicy", get(l, "name"))
		}
		modes[m] = true
	}
	if !modes["RequireAndVerify"] || !modes["Request"] {
		t.Errorf("want an enforcing (RequireAndVerify) and a permissive (Request) listener, got %v", modes)
	}
}
