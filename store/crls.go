package store

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// CreateCRL stores a CRL issued by a certificate of an uploaded client CA
// (subject and signature checked). It replaces the CRL held for the same
// issuer, unless the new one is older (a rollback, refused).
//
// The CRL is parsed and verified (pki.ParseVerifiedCRL: the ext_authz
// server's parser) before the write starts, against the current State, so
// that a large CRL does not hold up other writers; the write only checks
// that the issuing CA is unchanged (see crlCheck.against).
func (s *Store) CreateCRL(ctx context.Context, a Actor, data []byte) (*pb.CRL, error) {
	if len(data) > s.limits.MaxCRLBytes {
		return nil, fmt.Errorf("%w: CRL is %d bytes, more than the %d-byte cap", ErrLimit, len(data), s.limits.MaxCRLBytes)
	}
	c, err := checkCRL(s.Current(), data)
	if err != nil {
		return nil, err
	}
	var crl *pb.CRL
	_, err = s.commit(ctx, func(st *State) ([]Op, error) {
		cur, err := c.against(st, data)
		if err != nil {
			return nil, err
		}
		c = cur // a retried build compares with the State it last checked
		crl = s.newCRL(a, c.v, c.caID)
		ops, err := replacedCRLOps(st, crl)
		if err != nil {
			return nil, err
		}
		return s.withAudit(a, "crl/"+crl.Id, ops, crlPrefix+crl.Id, crl)
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
	caID string // the CA holding the certificate that signed the CRL
}

// checkCRL parses data and finds the certificate of st's client CAs that
// signed it. CAs are tried in id order.
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
	crl := &pb.CRL{
		Id:                      newID(),
		Der:                     v.DER,
		Issuer:                  v.Issuer.Subject.String(),
		IssuerSha256Fingerprint: pki.Fingerprint(v.Issuer.Raw),
		CaId:                    caID,
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
	return crl
}

// replacedCRLOps deletes the CRL the new one replaces, refusing rollbacks
// and re-uploads of the same CRL.
func replacedCRLOps(st *State, crl *pb.CRL) ([]Op, error) {
	var ops []Op
	for id, old := range st.crls {
		if old.GetIssuerSha256Fingerprint() != crl.GetIssuerSha256Fingerprint() {
			continue
		}
		if old.GetSha256Fingerprint() == crl.GetSha256Fingerprint() {
			return nil, fmt.Errorf("%w: this CRL is already uploaded as %s", ErrAlreadyExists, id)
		}
		if crl.GetThisUpdate().AsTime().Before(old.GetThisUpdate().AsTime()) {
			return nil, fmt.Errorf("%w: CRL thisUpdate %s is older than that of CRL %s (%s) from the same issuer",
				ErrFailedPrecondition, crl.GetThisUpdate().AsTime().UTC().Format("2006-01-02T15:04:05Z"),
				id, old.GetThisUpdate().AsTime().UTC().Format("2006-01-02T15:04:05Z"))
		}
		ops = append(ops, Op{Key: crlPrefix + id, Delete: true})
	}
	return ops, nil
}

// DeleteCRL deletes a CRL.
func (s *Store) DeleteCRL(ctx context.Context, a Actor, id string) error {
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.CRL(id) == nil {
			return nil, notFound("CRL", id)
		}
		return s.withAudit(a, "crl/"+id, []Op{{Key: crlPrefix + id, Delete: true}}, "", nil)
	})
	return err
}
