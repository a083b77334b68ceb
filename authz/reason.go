package authz

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
	ReasonNotPinned   Reason = "not_pinned"
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
	// rules (see rulepath.go).
	ReasonAmbiguousPath Reason = "ambiguous_path"
)

// Verify header values, as nginx's $ssl_client_verify.
const (
	VerifySuccess = "SUCCESS"
	VerifyNone    = "NONE"
	verifyFailed  = "FAILED:"
)

// describe is the short text of a denial body.
var describe = map[Reason]string{
	ReasonExpired:       "the client certificate has expired",
	ReasonNotYetValid:   "the client certificate is not valid yet",
	ReasonUntrusted:     "the client certificate is not issued by a trusted CA",
	ReasonRevoked:       "the client certificate is revoked",
	ReasonMissingEKU:    "the client certificate is not for client authentication",
	ReasonCRLStale:      "revocation status is unavailable",
	ReasonNotPinned:     "the client certificate is not allowed here",
	ReasonCACertificate: "a CA certificate is not a client certificate",
	ReasonMalformed:     "the client certificate could not be read",
	ReasonSNIMismatch:   "this host must be reached on its own connection",
	ReasonWrongFleet:    "this site is not served here",
	ReasonNotAllowed:    "the client is not allowed to access this path",
	ReasonNoCertificate: "a client certificate is required",
	ReasonUnknownSite:   "unknown site",
	ReasonBadRequest:    "bad request",
	ReasonPolicyError:   "the site's policy is unavailable",
	ReasonAmbiguousPath: "the request path is ambiguous",
}
