package authz

import (
	"time"

	"github.com/mtlsgate/mtlsgate/contract"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// checkDenied looks the certificates of v's verified chain up in the
// denylist of the State the table was compiled from: the leaf by
// fingerprint, and the leaf and every certificate above it, the anchor at
// the top included, by issuer name and serial. An entry applies to the
// request's site or to every site, until its expiry (compared with now,
// the Service's clock, so that an entry stops applying at its time
// without a store change). The matching entry is d's Detail, for the
// decision log.
//
// It runs on every request, outside the verdict cache, so that a new
// entry applies from the first table that holds it, to certificates whose
// verdicts are cached too. Each lookup is a map access; with an empty
// denylist it costs one nil check and allocates nothing.
func (t *Table) checkDenied(d *Decision, p *sitePolicy, v *verdict, now time.Time) contract.Reason {
	st := t.model.State
	if !st.HasDenyEntries() {
		return ""
	}
	e := st.DeniedFingerprint(p.key, v.fp, now)
	if e == nil {
		e = st.DeniedSerial(p.key, v.leaf.rawIssuer, v.leaf.serial, now)
	}
	for i := 0; e == nil && i < len(v.issuers); i++ {
		e = st.DeniedSerial(p.key, v.issuers[i].RawIssuer, v.issuers[i].SerialNumber, now)
	}
	if e == nil {
		return ""
	}
	d.explain(deniedBy{e})
	return contract.ReasonDenied
}

// deniedHash refuses, as denied, the certificate a pin admitted from an
// XFCC Hash alone (v, from verifyWithout; nil when none was admitted)
// when its fingerprint is on the denylist. It returns the verdict to go
// on with.
func (t *Table) deniedHash(d *Decision, p *sitePolicy, v *verdict, now time.Time) *verdict {
	if v == nil || !t.model.State.HasDenyEntries() {
		return v
	}
	e := t.model.State.DeniedFingerprint(p.key, v.fp, now)
	if e == nil {
		return v
	}
	d.Verify, d.Reason = contract.Failed(contract.ReasonDenied), contract.ReasonDenied
	d.explain(deniedBy{e})
	return nil
}

// deniedBy names the deny entry that refused a certificate.
type deniedBy struct{ e *pb.DenyEntry }

func (x deniedBy) Error() string {
	return "deny entry " + x.e.GetId() + ": " + store.DenyEntrySummary(x.e)
}
