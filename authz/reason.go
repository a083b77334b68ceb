package authz

import "github.com/mtlsgate/mtlsgate/contract"

// describe is the short text of a denial body.
var describe = map[contract.Reason]string{
	contract.ReasonExpired:             "the client certificate has expired",
	contract.ReasonNotYetValid:         "the client certificate is not valid yet",
	contract.ReasonUntrusted:           "the client certificate is not issued by a trusted CA",
	contract.ReasonRevoked:             "the client certificate is revoked",
	contract.ReasonMissingEKU:          "the client certificate is not for client authentication",
	contract.ReasonCRLStale:            "revocation status is unavailable",
	contract.ReasonOCSPUnavailable:     "revocation status is unavailable",
	contract.ReasonOCSPUnknown:         "the certificate's status is unknown to its OCSP responder",
	contract.ReasonNotPinned:           "the client certificate is not allowed here",
	contract.ReasonDenied:              "the client certificate is blocked",
	contract.ReasonCACertificate:       "a CA certificate is not a client certificate",
	contract.ReasonMalformed:           "the client certificate could not be read",
	contract.ReasonSNIMismatch:         "this host must be reached on its own connection",
	contract.ReasonWrongFleet:          "this site is not served here",
	contract.ReasonNotAllowed:          "the client is not allowed to access this path",
	contract.ReasonNoCertificate:       "a client certificate is required",
	contract.ReasonUnknownSite:         "unknown site",
	contract.ReasonBadRequest:          "bad request",
	contract.ReasonPolicyError:         "the site's policy is unavailable",
	contract.ReasonAmbiguousPath:       "the request path is ambiguous",
	contract.ReasonIdentityDisabled:    "the client certificate's owner is disabled",
	contract.ReasonIdentityNotAdmitted: "the client certificate's owner is not allowed here",
}
