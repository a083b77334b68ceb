package store

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// CreateCRL stores a CRL issued by a certificate of an uploaded client CA
// (subject and signature checked). It replaces the CRL held for the same
// issuer, unless the new one is older (a rollback, refused).
func (s *Store) CreateCRL(ctx context.Context, a Actor, data []byte) (*pb.CRL, error) {
	if len(data) > s.limits.MaxCRLBytes {
		return nil, fmt.Errorf("%w: CRL is %d bytes, more than the %d-byte cap", ErrLimit, len(data), s.limits.MaxCRLBytes)
	}
	rl, err := pki.ParseCRL(data)
	if err != nil {
		return nil, &ValidationError{Field: "crl", Err: err}
	}
	var crl *pb.CRL
	_, err = s.commit(ctx, func(st *State) ([]Op, error) {
		caID, issuer, err := crlIssuer(st, rl)
		if err != nil {
			return nil, err
		}
		crl = s.newCRL(a, rl, caID, issuer)
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

// crlIssuer finds the uploaded CA certificate that signed rl.
func crlIssuer(st *State, rl *x509.RevocationList) (string, *x509.Certificate, error) {
	byCA, err := caCertificates(st)
	if err != nil {
		return "", nil, err
	}
	ids := make([]string, 0, len(byCA))
	var all []*x509.Certificate
	for id := range byCA {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		all = append(all, byCA[id]...)
	}
	issuer, err := pki.CRLIssuer(rl, all)
	if err != nil {
		return "", nil, &ValidationError{Field: "crl", Err: err}
	}
	for _, id := range ids {
		for _, c := range byCA[id] {
			if c.Equal(issuer) {
				return id, issuer, nil
			}
		}
	}
	return "", nil, fmt.Errorf("store: CRL issuer matched no CA") // unreachable
}

func (s *Store) newCRL(a Actor, rl *x509.RevocationList, caID string, issuer *x509.Certificate) *pb.CRL {
	sum := sha256.Sum256(rl.Raw)
	crl := &pb.CRL{
		Id:                      newID(),
		Der:                     rl.Raw,
		Issuer:                  issuer.Subject.String(),
		IssuerSha256Fingerprint: pki.Fingerprint(issuer.Raw),
		CaId:                    caID,
		ThisUpdate:              timestamppb.New(rl.ThisUpdate),
		EntryCount:              int64(len(rl.RevokedCertificateEntries)),
		Sha256Fingerprint:       hex.EncodeToString(sum[:]),
		SizeBytes:               int64(len(rl.Raw)),
		UploadedBy:              a.TokenID,
		UploadedAt:              timestamppb.New(s.now()),
	}
	if !rl.NextUpdate.IsZero() {
		crl.NextUpdate = timestamppb.New(rl.NextUpdate)
	}
	if rl.Number != nil {
		crl.Number = pki.SerialHex(rl.Number)
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
