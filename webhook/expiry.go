package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// notice is a once-only event: an object's expiry, or a CRL source's
// failure streak. Its key names the subject and the occasion, so that the
// same expiry is reported once per webhook, and a renewed object (a new
// expiry) again.
type notice struct {
	typ, object, key string
	// at is the time reported on (an expiry); until is when the mark may
	// be forgotten.
	at, until time.Time
	details   map[string]any
}

// markKey is the notice's key in the store: a digest, so that its length
// does not depend on hostnames or URLs.
func (n notice) markKey() string {
	sum := sha256.Sum256([]byte(n.typ + "\x00" + n.key))
	return hex.EncodeToString(sum[:16])
}

// expiring returns the objects of st that expire after now and no later
// than now+horizon: certificates bound to identities and issued ones
// (once per certificate, by fingerprint), client CAs' certificates, sites'
// inline server certificates, and CRLs by next_update. It reads only the
// State (memory).
func expiring(st *store.State, now time.Time, horizon time.Duration) []notice {
	var out []notice
	end := now.Add(horizon)
	in := func(t *timestamppb.Timestamp) bool {
		return t != nil && t.AsTime().After(now) && !t.AsTime().After(end)
	}
	seen := map[string]bool{}
	for _, id := range st.Identities() {
		for _, c := range id.GetCertificates() {
			if info := c.GetInfo(); in(info.GetNotAfter()) && !seen[c.GetSha256Fingerprint()] {
				seen[c.GetSha256Fingerprint()] = true
				out = append(out, certNotice(store.EventCertificateExpiring, store.IdentityRef(id.GetName()).String(), info,
					map[string]any{"identity": id.GetName()}))
			}
		}
	}
	for _, c := range st.IssuedCertificates() {
		if c.GetRevokedAt() != nil || !in(c.GetNotAfter()) || seen[c.GetSha256Fingerprint()] {
			continue
		}
		seen[c.GetSha256Fingerprint()] = true
		info := &pb.CertificateInfo{Sha256Fingerprint: c.GetSha256Fingerprint(), Serial: c.GetSerial(), NotAfter: c.GetNotAfter()}
		out = append(out, certNotice(store.EventCertificateExpiring, store.IssuedRef(c.GetSerial()).String(), info,
			map[string]any{"identity": c.GetIdentity(), "issued": true}))
	}
	for _, ca := range st.CAs() {
		for _, info := range ca.GetCertificates() {
			if in(info.GetNotAfter()) {
				out = append(out, certNotice(store.EventClientCAExpiring, store.CARef(ca.GetId()).String(), info,
					map[string]any{"ca_name": ca.GetName()}))
			}
		}
	}
	for _, site := range st.Sites() {
		if info := site.GetServerCertificate().GetInline().GetInfo(); in(info.GetNotAfter()) {
			out = append(out, certNotice(store.EventServerCertificateExpiring, store.SiteRef(site.GetHostname()).String(), info, nil))
		}
	}
	for _, crl := range st.CRLs() {
		if next := crl.GetNextUpdate(); in(next) {
			out = append(out, notice{typ: store.EventCRLExpiring, object: store.CRLRef(crl.GetId()).String(),
				key: fmt.Sprintf("%s/%d", crl.GetId(), next.AsTime().Unix()), at: next.AsTime(), until: next.AsTime(),
				details: map[string]any{"next_update": rfc3339(next.AsTime()), "issuer": crl.GetIssuer(), "ca_id": crl.GetCaId(),
					"number": crl.GetNumber()}})
		}
	}
	return out
}

// certNotice is the notice of a certificate's expiry; extra details are
// added to the certificate's facts.
func certNotice(typ, object string, info *pb.CertificateInfo, extra map[string]any) notice {
	at := info.GetNotAfter().AsTime()
	d := map[string]any{"not_after": rfc3339(at), "sha256_fingerprint": info.GetSha256Fingerprint(), "serial": info.GetSerial()}
	if info.GetSubject() != "" {
		d["subject"], d["issuer"] = info.GetSubject(), info.GetIssuer()
	}
	for k, v := range extra {
		d[k] = v
	}
	return notice{typ: typ, object: object, key: fmt.Sprintf("%s/%s/%d", object, info.GetSha256Fingerprint(), at.Unix()),
		at: at, until: at, details: d}
}

// failureMemory is how long a CRL source's failure streak stays reported:
// a source failing for longer is reported again.
const failureMemory = 30 * 24 * time.Hour

// fetchFailures returns the notices of the CRL sources whose last
// attempts failed: once per failure streak (its key is the source and its
// last success).
func fetchFailures(statuses []*pb.CRLFetchStatus, now time.Time) []notice {
	var out []notice
	for _, s := range statuses {
		if s.GetFailures() == 0 {
			continue
		}
		var last int64
		d := map[string]any{"url": s.GetUrl(), "error": s.GetError(), "result": s.GetResult(), "failures": s.GetFailures(),
			"from": s.GetFrom()}
		if t := s.GetLastAttempt(); t != nil {
			d["last_attempt"] = rfc3339(t.AsTime())
		}
		if t := s.GetLastSuccess(); t != nil {
			last = t.AsTime().Unix()
			d["last_success"] = rfc3339(t.AsTime())
		}
		id := store.CRLSourceID(s.GetUrl())
		out = append(out, notice{typ: store.EventCRLFetchFailed, object: store.CRLSourceRef(id).String(),
			key: fmt.Sprintf("%s/%d", id, last), at: now, until: now.Add(failureMemory), details: d})
	}
	return out
}
