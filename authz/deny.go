package authz

import (
	"time"

	"github.com/mtlsgate/mtlsgate/contract"
)

// checkDenied looks the certificates of v's verified chain up in the
// denylist of the State the table was compiled from: the leaf by
// fingerprint, and the leaf and every certificate above it, the anchor at
// the top included, by issuer name and serial. An entry applies to the
// request's site or to every site, until its expiry (compared with now,
// the Service's clock, so that an entry stops applying at its time
// without a store change).
//
// It runs on every request, outside the verdict cache, so that a new
// entry applies from the first table that holds it, to certificates whose
// verdicts are cached too. Each lookup is a map access; with an empty
// denylist it costs one nil check and allocates nothing.
func (t *Table) checkDenied(p *sitePolicy, v *verdict, now time.Time) contract.Reason {
	st := t.model.State
	if !st.HasDenyEntries() {
		return ""
	}
	if st.DeniedFingerprint(p.key, v.fp, now) != nil || st.DeniedSerial(p.key, v.leaf.rawIssuer, v.leaf.serial, now) != nil {
		return contract.ReasonDenied
	}
	for _, c := range v.issuers {
		if st.DeniedSerial(p.key, c.RawIssuer, c.SerialNumber, now) != nil {
			return contract.ReasonDenied
		}
	}
	return ""
}

// deniedHash refuses, as denied, the certificate a pin admitted from an
// XFCC Hash alone (v, from verifyWithout; nil when none was admitted)
// when its fingerprint is on the denylist. It returns the verdict to go
// on with.
func (t *Table) deniedHash(d *Decision, p *sitePolicy, v *verdict, now time.Time) *verdict {
	if v == nil || !t.model.State.HasDenyEntries() || t.model.State.DeniedFingerprint(p.key, v.fp, now) == nil {
		return v
	}
	d.Verify, d.Reason = contract.Failed(contract.ReasonDenied), contract.ReasonDenied
	return nil
}
