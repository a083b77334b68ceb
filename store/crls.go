package store

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// CreateCRL stores a CRL issued by an uploaded client CA (subject and
// signature checked). A CRL belongs to its issuer's identity (subject name
// and public key, pki.IssuerKey), not to one certificate: it applies to
// every uploaded certificate of that issuer that it covers. It replaces
// the CRL held for the same issuer, scope and partition (see crlSlot) when
// it supersedes it (see supersedes), and is refused otherwise, with the
// numbers or times compared.
//
// The CRL is parsed and verified (pki.ParseVerifiedCRL: the ext_authz
// server's parser) before the write starts, against the current State, so
// that a large CRL does not hold up other writers; the write only checks
// that the issuing CA is unchanged (see crlCheck.against).
func (s *Store) CreateCRL(ctx context.Context, a Actor, data []byte) (*pb.CRL, error) {
	c, err := s.checkCRLSize(data)
	if err != nil {
		return nil, err
	}
	return s.createCRL(ctx, a, data, c, "")
}

// PutFetchedCRL stores a CRL that mtlsgate fetched from url, through the
// validation of CreateCRL, and records url as its source. When the store
// already holds this very CRL (same DER), it writes nothing and returns
// the held one with stored false: a publisher serving the same CRL again
// is not an error.
func (s *Store) PutFetchedCRL(ctx context.Context, a Actor, data []byte, url string) (crl *pb.CRL, stored bool, err error) {
	c, err := s.checkCRLSize(data)
	if err != nil {
		return nil, false, err
	}
	sum := sha256.Sum256(c.v.DER)
	fp := hex.EncodeToString(sum[:])
	if held := heldCRL(s.Current(), fp); held != nil {
		return held, false, nil
	}
	crl, err = s.createCRL(ctx, a, data, c, url)
	if errors.Is(err, ErrAlreadyExists) { // stored meanwhile
		if held := heldCRL(s.Current(), fp); held != nil {
			return held, false, nil
		}
	}
	return crl, err == nil, err
}

// heldCRL returns the CRL of st whose DER has the fingerprint fp, or nil.
func heldCRL(st *State, fp string) *pb.CRL {
	for _, c := range st.crls {
		if c.GetSha256Fingerprint() == fp {
			return c
		}
	}
	return nil
}

// checkCRLSize refuses a CRL over the size limit, then checks it
// against the current State.
func (s *Store) checkCRLSize(data []byte) (crlCheck, error) {
	if len(data) > s.limits.MaxCRLBytes {
		return crlCheck{}, fmt.Errorf("%w: CRL is %d bytes, more than the %d-byte cap", ErrLimit, len(data), s.limits.MaxCRLBytes)
	}
	return checkCRL(s.Current(), data)
}

// createCRL writes the CRL checked as c (fetchedFrom: its source URL, or
// "" for an upload).
func (s *Store) createCRL(ctx context.Context, a Actor, data []byte, c crlCheck, fetchedFrom string) (*pb.CRL, error) {
	var crl *pb.CRL
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		cur, err := c.against(st, data)
		if err != nil {
			return nil, err
		}
		c = cur // a retried build compares with the State it last checked
		crl = s.newCRL(a, c.v, c.caID)
		crl.FetchedFrom = fetchedFrom
		ops, err := replacedCRLOps(st, crl)
		if err != nil {
			return nil, err
		}
		return s.withAudit(a, CRLRef(crl.Id), ops, crlPrefix+crl.Id, crl)
	})
	if err != nil {
		return nil, err
	}
	return crl, nil
}

// crlCheck is an uploaded CRL verified against the client CAs of one State.
type crlCheck struct {
	st   *State
	v    *pki.VerifiedCRL
	caID string // the CA holding the certificate that verified the CRL
}

// checkCRL parses data and finds a certificate of st's client CAs that
// signed it. CAs are tried in id order; every certificate with the same
// subject and key is the same issuer, so which one verifies only decides
// the informational ca_id and issuer_sha256_fingerprint.
func checkCRL(st *State, data []byte) (crlCheck, error) {
	byCA, err := caCertificates(st)
	if err != nil {
		return crlCheck{}, err
	}
	var all []*x509.Certificate
	var owners []string // owners[i] is the CA id of all[i]
	for _, id := range slices.Sorted(maps.Keys(byCA)) {
		all = append(all, byCA[id]...)
		for range byCA[id] {
			owners = append(owners, id)
		}
	}
	v, err := pki.ParseVerifiedCRL(data, all)
	if err != nil {
		return crlCheck{}, &ValidationError{Field: "crl", Err: err}
	}
	i := slices.Index(all, v.Issuer)
	if i < 0 {
		return crlCheck{}, fmt.Errorf("store: CRL issuer matched no CA") // unreachable: Issuer is one of all
	}
	return crlCheck{st: st, v: v, caID: owners[i]}, nil
}

// against returns c for st: c itself when the CA that signed the CRL is the
// same in st, or else the CRL checked again against st (the CA was deleted
// or rewritten since). CA messages are shared by States until rewritten, so
// the same pointer is the same CA.
func (c crlCheck) against(st *State, data []byte) (crlCheck, error) {
	if st.CA(c.caID) != nil && st.CA(c.caID) == c.st.CA(c.caID) {
		return c, nil
	}
	return checkCRL(st, data)
}

// newCRL records the facts of v, as parsed by crlset.
func (s *Store) newCRL(a Actor, v *pki.VerifiedCRL, caID string) *pb.CRL {
	sum := sha256.Sum256(v.DER)
	key := pki.IssuerKeyOf(v.Issuer)
	crl := &pb.CRL{
		Id:                      newID(),
		Der:                     v.DER,
		Issuer:                  v.Issuer.Subject.String(),
		IssuerSha256Fingerprint: pki.Fingerprint(v.Issuer.Raw),
		CaId:                    caID,
		IssuerNameDer:           []byte(key.Name),
		IssuerSpkiSha256:        key.SPKI,
		ThisUpdate:              timestamppb.New(v.Set.ThisUpdate()),
		EntryCount:              int64(v.Set.Entries()),
		Sha256Fingerprint:       hex.EncodeToString(sum[:]),
		SizeBytes:               int64(len(v.DER)),
		UploadedBy:              a.TokenID,
		UploadedAt:              timestamppb.New(s.now()),
	}
	if next := v.Set.NextUpdate(); !next.IsZero() {
		crl.NextUpdate = timestamppb.New(next)
	}
	if n := v.Set.Number(); n != nil {
		crl.Number = pki.SerialHex(n)
	}
	crl.Scope, crl.DistributionPoints = crlScopeOf(v.Set.Scope()), v.Set.Partition()
	return crl
}

// replacedCRLOps deletes the CRLs of crl's slot (issuer, scope and
// partition: see crlSlot), which crl replaces, refusing a CRL that does
// not supersede the one held. A CRL of another scope or partition of the
// same issuer stays: uploading an issuer's ARL leaves its end-entity CRL in
// force. (A store written by an older version may hold several CRLs of one
// slot: they all go, and crl must supersede the one in force.)
func replacedCRLOps(st *State, crl *pb.CRL) ([]Op, error) {
	key := slotOf(crl)
	if held := st.crlOfSlot(key); held != nil {
		if err := supersedes(crl, held); err != nil {
			return nil, err
		}
	}
	var ops []Op
	for _, id := range st.crlIDsOfSlot(key) {
		ops = append(ops, Op{Key: crlPrefix + id, Delete: true})
	}
	return ops, nil
}

// supersedes reports why crl may not replace held, the CRL in force for
// the same slot (nil: it may): CRL numbers are monotonic per issuer and
// scope (RFC 5280 5.2.3). The rule, documented in docs/api.md:
//
//   - the same CRL (same DER) is refused as already uploaded;
//   - when both carry a CRL number (RFC 5280 5.2.3, which conforming CRLs
//     always do), a higher number replaces; an equal or lower one is
//     refused, whatever the dates say;
//   - when either lacks a number, a strictly later thisUpdate replaces; an
//     equal or earlier one is refused (which of two CRLs of the same
//     moment is newer cannot be told).
func supersedes(crl, held *pb.CRL) error {
	if crl.GetSha256Fingerprint() != "" && crl.GetSha256Fingerprint() == held.GetSha256Fingerprint() {
		return fmt.Errorf("%w: this CRL is already uploaded as %s", ErrAlreadyExists, held.GetId())
	}
	sent, hasSent := crlNumber(crl)
	have, hasHeld := crlNumber(held)
	if hasSent && hasHeld {
		if sent.Cmp(have) > 0 {
			return nil
		}
		return fmt.Errorf("%w: CRL number %s is not higher than %s, the number of CRL %s held for issuer %s%s; upload a CRL with a higher number",
			ErrFailedPrecondition, sent, have, held.GetId(), held.GetIssuer(), coverage(held))
	}
	sentAt, heldAt := crl.GetThisUpdate().AsTime(), held.GetThisUpdate().AsTime()
	if sentAt.After(heldAt) {
		return nil
	}
	return fmt.Errorf("%w: CRL thisUpdate %s is not later than thisUpdate %s of CRL %s, held for issuer %s%s (CRL numbers: sent %s, held %s; without both, thisUpdate decides)",
		ErrFailedPrecondition, stamp(sentAt), stamp(heldAt), held.GetId(), held.GetIssuer(), coverage(held),
		numberOrNone(crl), numberOrNone(held))
}

// coverage names what a CRL covers when that is less than every
// certificate of its issuer, for refusals: " (CA certificates)",
// " (end-entity certificates, distribution point http://…)"; "" otherwise.
func coverage(c *pb.CRL) string {
	var parts []string
	switch c.GetScope() {
	case pb.CRLScope_CRL_SCOPE_USER_CERTS:
		parts = append(parts, "end-entity certificates")
	case pb.CRLScope_CRL_SCOPE_CA_CERTS:
		parts = append(parts, "CA certificates")
	}
	if dps := c.GetDistributionPoints(); len(dps) > 0 {
		parts = append(parts, "distribution point "+strings.Join(dps, " "))
	}
	if parts == nil {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// crlNumber parses a CRL message's number (uppercase hex).
func crlNumber(c *pb.CRL) (*big.Int, bool) {
	if c.GetNumber() == "" {
		return nil, false
	}
	return new(big.Int).SetString(c.GetNumber(), 16)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// numberOrNone renders a CRL's number in decimal, as tools print it.
func numberOrNone(c *pb.CRL) string {
	if n, ok := crlNumber(c); ok {
		return n.String()
	}
	return "none"
}

// CRLIssuerKey returns the identity of the issuer a CRL message belongs to
// (zero when the message carries none: a CRL stored by an older version
// whose issuer could not be found on load).
func CRLIssuerKey(c *pb.CRL) pki.IssuerKey {
	if len(c.GetIssuerNameDer()) == 0 || c.GetIssuerSpkiSha256() == "" {
		return pki.IssuerKey{}
	}
	return pki.IssuerKey{Name: string(c.GetIssuerNameDer()), SPKI: c.GetIssuerSpkiSha256()}
}

// preferCRL reports whether a is in force rather than b when both belong
// to one slot (only a store written by an older version holds several):
// the one that would supersede the other, else the greater id.
func preferCRL(a, b *pb.CRL) bool {
	ab, ba := supersedes(a, b) == nil, supersedes(b, a) == nil
	if ab != ba {
		return ab
	}
	return a.GetId() > b.GetId()
}

// DeleteCRL deletes a CRL.
func (s *Store) DeleteCRL(ctx context.Context, a Actor, id string) error {
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.CRL(id) == nil {
			return nil, notFound("CRL", id)
		}
		return s.withAudit(a, CRLRef(id), []Op{{Key: crlPrefix + id, Delete: true}}, "", nil)
	})
	return err
}
