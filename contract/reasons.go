package contract

// Reasons lists every Reason, in the order contract.go declares them: the
// closed set that site settings (a refusal's reasons) may name.
var Reasons = []Reason{
	ReasonExpired, ReasonNotYetValid, ReasonUntrusted, ReasonRevoked, ReasonMissingEKU,
	ReasonCRLStale, ReasonOCSPUnavailable, ReasonOCSPUnknown, ReasonNotPinned, ReasonDenied,
	ReasonCACertificate, ReasonMalformed, ReasonSNIMismatch, ReasonWrongFleet, ReasonNotAllowed,
	ReasonNoCertificate, ReasonUnknownSite, ReasonBadRequest, ReasonPolicyError, ReasonAmbiguousPath,
	ReasonIdentityDisabled, ReasonIdentityNotAdmitted,
}

// Known reports whether r is one of Reasons.
func Known(r Reason) bool {
	for _, k := range Reasons {
		if k == r {
			return true
		}
	}
	return false
}

// Refusals: the words a site's refusals (ClientCertSettings.refusals) name
// besides reasons.
const (
	// RefusalNone names ReasonNoCertificate in a refusal: "none", as the
	// verify header says NONE.
	RefusalNone = "none"
	// RefusalOther names every reason no other refusal of the site names.
	RefusalOther = "*"
	// RefusalPlaceholder in a refusal's page body or redirect URL is
	// replaced by the reason word.
	RefusalPlaceholder = "{reason}"
)

// Unrefusable reports whether a site's refusals never answer r: a request
// for no known site (unknown_site), one the asking node's fleet does not
// serve (wrong_fleet), and one that must be retried on a connection of its
// own (sni_mismatch: 421 tells a browser to do that, which a page or a
// redirect would not).
func Unrefusable(r Reason) bool {
	return r == ReasonUnknownSite || r == ReasonWrongFleet || r == ReasonSNIMismatch
}
