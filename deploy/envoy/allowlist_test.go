package envoy_test

// The fields the recipes may use, per kind, taken from the platforms' API
// definitions (istio.io/api v1.32.0: networking/v1alpha3, security/v1beta1,
// mesh/v1alpha1; Envoy Gateway v1.9.1 api/v1alpha1; Gateway API v1.6.1
// apis/v1 and v1beta1). A path names a field by its JSON name, "[]" for a
// list's items; an entry ending in ".*" admits anything below it. A field
// missing here is a typo or a field to check before adding.
var allowed = map[string][]string{
	"helm-values/istiod": {
		"meshConfig.extensionProviders[].name",
		"meshConfig.extensionProviders[].envoyExtAuthzGrpc.service",
		"meshConfig.extensionProviders[].envoyExtAuthzGrpc.port",
		"meshConfig.extensionProviders[].envoyExtAuthzGrpc.timeout",
		"meshConfig.extensionProviders[].envoyExtAuthzGrpc.failOpen",
		"meshConfig.extensionProviders[].envoyExtAuthzGrpc.statusOnError",
		"meshConfig.extensionProviders[].envoyExtAuthzGrpc.clearRouteCache",
		"meshConfig.extensionProviders[].envoyExtAuthzGrpc.includeRequestBodyInCheck.*",
		"meshConfig.defaultConfig.gatewayTopology.forwardClientCertDetails",
		"meshConfig.defaultConfig.gatewayTopology.numTrustedProxies",
	},
	"networking.istio.io/v1/Gateway": {
		"spec.selector.*",
		"spec.servers[].name", "spec.servers[].port.number", "spec.servers[].port.name", "spec.servers[].port.protocol",
		"spec.servers[].hosts[]",
		"spec.servers[].tls.mode", "spec.servers[].tls.credentialName", "spec.servers[].tls.credentialNames[]",
		"spec.servers[].tls.minProtocolVersion", "spec.servers[].tls.httpsRedirect",
	},
	"networking.istio.io/v1/VirtualService": {
		"spec.hosts[]", "spec.gateways[]",
		"spec.http[].route[].destination.host", "spec.http[].route[].destination.port.number", "spec.http[].route[].weight",
	},
	"security.istio.io/v1/AuthorizationPolicy": {
		"spec.selector.matchLabels.*", "spec.action", "spec.provider.name",
		"spec.rules[].to[].operation.hosts[]", "spec.rules[].to[].operation.paths[]",
		"spec.rules[].to[].operation.methods[]", "spec.rules[].to[].operation.ports[]",
	},
	"networking.istio.io/v1/DestinationRule": {
		"spec.host", "spec.exportTo[]", "spec.workloadSelector.matchLabels.*",
		"spec.trafficPolicy.tls.mode", "spec.trafficPolicy.tls.credentialName",
		"spec.trafficPolicy.tls.caCertCredentialName", "spec.trafficPolicy.tls.subjectAltNames[]",
		"spec.trafficPolicy.tls.sni",
	},
	"networking.istio.io/v1alpha3/EnvoyFilter": {
		"spec.workloadSelector.labels.*",
		"spec.configPatches[].applyTo", "spec.configPatches[].match.context",
		"spec.configPatches[].match.listener.filterChain.filter.name",
		"spec.configPatches[].patch.operation",
		"spec.configPatches[].patch.value.*", // decoded with Envoy's protos
	},
	"networking.k8s.io/v1/NetworkPolicy": {
		"spec.podSelector.matchLabels.*", "spec.policyTypes[]",
		"spec.ingress[].from[].namespaceSelector.matchLabels.*", "spec.ingress[].from[].podSelector.matchLabels.*",
		"spec.ingress[].ports[].port", "spec.ingress[].ports[].protocol",
	},
	"gateway.networking.k8s.io/v1/Gateway": {
		"spec.gatewayClassName",
		"spec.infrastructure.parametersRef.group", "spec.infrastructure.parametersRef.kind", "spec.infrastructure.parametersRef.name",
		"spec.listeners[].name", "spec.listeners[].protocol", "spec.listeners[].port", "spec.listeners[].hostname",
		"spec.listeners[].tls.mode", "spec.listeners[].tls.certificateRefs[].kind", "spec.listeners[].tls.certificateRefs[].name",
	},
	"gateway.networking.k8s.io/v1/HTTPRoute": {
		"spec.parentRefs[].name", "spec.parentRefs[].sectionName", "spec.hostnames[]",
		"spec.rules[].backendRefs[].name", "spec.rules[].backendRefs[].port",
	},
	"gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy": {
		"spec.targetRefs[].group", "spec.targetRefs[].kind", "spec.targetRefs[].name", "spec.targetRefs[].sectionName",
		"spec.tls.clientValidation.mode",
		"spec.tls.clientValidation.caCertificateRefs[].kind", "spec.tls.clientValidation.caCertificateRefs[].name",
		"spec.headers.xForwardedClientCert.mode", "spec.headers.xForwardedClientCert.certDetailsToAdd[]",
	},
	"gateway.envoyproxy.io/v1alpha1/SecurityPolicy": {
		"spec.targetRefs[].group", "spec.targetRefs[].kind", "spec.targetRefs[].name",
		"spec.extAuth.grpc.backendRefs[].name", "spec.extAuth.grpc.backendRefs[].namespace", "spec.extAuth.grpc.backendRefs[].port",
		"spec.extAuth.contextExtensions[].name", "spec.extAuth.contextExtensions[].type", "spec.extAuth.contextExtensions[].value",
		"spec.extAuth.timeout", "spec.extAuth.failOpen", "spec.extAuth.statusOnError",
	},
	"gateway.networking.k8s.io/v1beta1/ReferenceGrant": {
		"spec.from[].group", "spec.from[].kind", "spec.from[].namespace",
		"spec.to[].group", "spec.to[].kind", "spec.to[].name",
	},
	"gateway.networking.k8s.io/v1/BackendTLSPolicy": {
		"spec.targetRefs[].group", "spec.targetRefs[].kind", "spec.targetRefs[].name", "spec.targetRefs[].sectionName",
		"spec.validation.caCertificateRefs[].group", "spec.validation.caCertificateRefs[].kind", "spec.validation.caCertificateRefs[].name",
		"spec.validation.hostname", "spec.validation.subjectAltNames[].type", "spec.validation.subjectAltNames[].uri",
	},
	"gateway.envoyproxy.io/v1alpha1/EnvoyProxy": {
		"spec.backendTLS.clientCertificateRef.kind", "spec.backendTLS.clientCertificateRef.name",
	},
}

// objectFields are allowed in every Kubernetes object.
var objectFields = []string{"apiVersion", "kind", "metadata.name", "metadata.namespace", "metadata.labels.*", "metadata.annotations.*"}

// enums are the values the recipes may give a field (the values the
// recipes need, among those the API defines).
var enums = map[string][]string{
	"networking.istio.io/v1/Gateway spec.servers[].tls.mode":                                                  {"MUTUAL", "OPTIONAL_MUTUAL"},
	"helm-values/istiod meshConfig.defaultConfig.gatewayTopology.forwardClientCertDetails":                    {"SANITIZE_SET"},
	"helm-values/istiod meshConfig.extensionProviders[].envoyExtAuthzGrpc.failOpen":                           {"false"},
	"security.istio.io/v1/AuthorizationPolicy spec.action":                                                    {"CUSTOM"},
	"networking.istio.io/v1/DestinationRule spec.trafficPolicy.tls.mode":                                      {"MUTUAL"},
	"networking.istio.io/v1alpha3/EnvoyFilter spec.configPatches[].applyTo":                                   {"NETWORK_FILTER"},
	"networking.istio.io/v1alpha3/EnvoyFilter spec.configPatches[].match.context":                             {"GATEWAY"},
	"networking.istio.io/v1alpha3/EnvoyFilter spec.configPatches[].patch.operation":                           {"MERGE"},
	"gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy spec.tls.clientValidation.mode":                       {"Request", "RequireAny", "VerifyIfGiven", "RequireAndVerify"},
	"gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy spec.headers.xForwardedClientCert.mode":               {"SanitizeSet"},
	"gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy spec.headers.xForwardedClientCert.certDetailsToAdd[]": {"Subject", "Cert", "Chain", "DNS", "URI"},
	"gateway.envoyproxy.io/v1alpha1/SecurityPolicy spec.extAuth.contextExtensions[].type":                     {"Value"},
	"gateway.envoyproxy.io/v1alpha1/SecurityPolicy spec.extAuth.failOpen":                                     {"false"},
	"gateway.networking.k8s.io/v1/BackendTLSPolicy spec.validation.subjectAltNames[].type":                    {"URI"},
	"gateway.networking.k8s.io/v1/Gateway spec.listeners[].tls.mode":                                          {"Terminate"},
}
