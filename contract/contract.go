// Package contract is what Envoy's ext_authz filter, the configuration
// mtlsgate's xDS server gives it, and mtlsgate's Check server agree on:
// the context extensions a route sets for Check, the values of the verify
// header, and the closed set of reasons a certificate fails or a request is
// refused for. The translator (package xds) writes the extensions; the
// Check server (package authz) reads them and answers with these words.
// Both import this package and nothing of each other.
//
// The origin header names and certificate encodings are the other half of
// the contract, in package originhdr.
package contract

// Context extensions: set per route in the ext_authz filter's
// check_settings, sent with every Check of the route.
const (
	// SiteExtension names the site (its hostname, "*.example.com" for a
	// wildcard) whose policy a request is checked against.
	SiteExtension = "site"
	// ListenerExtension is set to ListenerHTTP on the plain HTTP
	// listener's checked routes: the request came without TLS, so it has
	// no certificate and no SNI, whatever the request says.
	ListenerExtension = "listener"
	ListenerHTTP      = "http"
)

// Access logs: the log names (common_config.log_name) of the gRPC access
// logs (envoy.service.accesslog.v3) Envoy streams to the control plane's
// cluster, as the xDS configuration sets them and the access log server
// reads them.
const (
	// AccessLogHTTP is the HTTP connection managers' log: requests that
	// failed (a status from 400 up, or any response flag).
	AccessLogHTTP = "mtlsgate_http"
	// AccessLogConnections is the HTTPS listener's log: one entry per
	// downstream connection as it closes, with the TLS failure reason
	// of a handshake that failed.
	AccessLogConnections = "mtlsgate_connections"
)

// Verify header values, as nginx's $ssl_client_verify: SUCCESS, NONE (no
// certificate), or FAILED:<reason>.
const (
	VerifySuccess = "SUCCESS"
	VerifyNone    = "NONE"
	// VerifyFailedPrefix precedes the Reason of a certificate that failed.
	VerifyFailedPrefix = "FAILED:"
)

// Failed is the verify value of a certificate that failed for r.
func Failed(r Reason) string { return VerifyFailedPrefix + string(r) }

// Reason is why a certificate failed or a request was refused. The set is
// closed and the words are stable: they appear in the verify header
// (FAILED:<reason>), in denial bodies, in logs and as metric labels.
type Reason string

// Reasons.
const (
	ReasonExpired     Reason = "expired"
	ReasonNotYetValid Reason = "not_yet_valid"
	ReasonUntrusted   Reason = "untrusted"
	ReasonRevoked     Reason = "revoked"
	ReasonMissingEKU  Reason = "missing_client_auth_eku"
	ReasonCRLStale    Reason = "crl_stale"
	// ReasonOCSPUnavailable: OCSP gave no usable answer (responder
	// unreachable, refusing, answering something that fails
	// verification, or not within the check's budget).
	ReasonOCSPUnavailable Reason = "ocsp_unavailable"
	// ReasonOCSPUnknown: the responder does not know the certificate.
	ReasonOCSPUnknown Reason = "ocsp_unknown"
	ReasonNotPinned   Reason = "not_pinned"
	// ReasonDenied: a certificate of the verified chain is on the
	// account's or the site's denylist (DenyEntry).
	ReasonDenied Reason = "denied"
	// ReasonCACertificate: the certificate is a CA (basicConstraints
	// CA:TRUE), which is never accepted as a client certificate.
	ReasonCACertificate Reason = "ca_certificate"
	ReasonMalformed     Reason = "malformed"
	ReasonSNIMismatch   Reason = "sni_mismatch"
	ReasonWrongFleet    Reason = "wrong_fleet" // the asking node's fleet does not serve the site
	ReasonNotAllowed    Reason = "not_allowed"
	ReasonNoCertificate Reason = "no_certificate"
	ReasonUnknownSite   Reason = "unknown_site"
	ReasonBadRequest    Reason = "bad_request"
	ReasonPolicyError   Reason = "policy_error"
	// ReasonAmbiguousPath refuses, on a site with access rules, a path
	// that origins may read as different paths governed by different
	// rules.
	ReasonAmbiguousPath Reason = "ambiguous_path"
	// ReasonIdentityDisabled: the certificate resolves to a disabled
	// identity (bound, pinned, issued or mapped).
	ReasonIdentityDisabled Reason = "identity_disabled"
	// ReasonIdentityNotAdmitted: the site admits listed identities only,
	// and the certificate resolves to none of them.
	ReasonIdentityNotAdmitted Reason = "identity_not_admitted"
)
