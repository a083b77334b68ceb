package store

import (
	"context"
	"errors"
	"maps"
	"math/big"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/issuing"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// publishCRLOps signs the issuing CA's next CRL (number ica.crl_number+1)
// listing every revoked certificate of st not expired at now, and returns
// the writes: the CA record with its new number and the CRL, stored
// through the validation of an uploaded CRL (checkCRL, replacedCRLOps)
// in place of the one it supersedes. ica is not modified.
func (s *Store) publishCRLOps(st *State, a Actor, ica *pb.IssuingCA, ca *issuing.CA, now time.Time, period time.Duration) ([]Op, error) {
	var revoked []issuing.Revoked
	for _, c := range st.IssuedCertificates() {
		if c.GetRevokedAt() == nil || !now.Before(c.GetNotAfter().AsTime()) {
			continue
		}
		n, ok := new(big.Int).SetString(c.GetSerial(), 16)
		if !ok {
			continue // not a record this version wrote
		}
		revoked = append(revoked, issuing.Revoked{Serial: n, RevokedAt: c.GetRevokedAt().AsTime()})
	}
	next := proto.Clone(ica).(*pb.IssuingCA)
	next.CrlNumber++
	der, err := ca.CRL(revoked, next.GetCrlNumber(), now, period)
	if err != nil {
		return nil, err
	}
	if len(der) > s.limits.MaxCRLBytes {
		return nil, errors.New("store: the issuing CA's CRL is larger than limits.max_crl_bytes") // unreachable within the identity limits
	}
	c, err := checkCRL(st, der)
	if err != nil {
		return nil, err
	}
	crl := s.newCRL(a, c.v, c.caID)
	ops, err := replacedCRLOps(st, crl)
	if err != nil {
		return nil, err
	}
	for key, msg := range map[string]proto.Message{issuingCAKey: next, crlPrefix + crl.GetId(): crl} {
		op, err := s.putOp(key, msg)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// withIssued returns a scratch copy of s that also holds c, for signing a
// CRL in the transaction that writes c.
func (s *State) withIssued(c *pb.IssuedCertificate) *State {
	n := *s
	n.ext.issued = maps.Clone(s.ext.issued)
	if n.ext.issued == nil {
		n.ext.issued = map[string]*pb.IssuedCertificate{}
	}
	n.ext.issued[c.GetSerial()] = c
	return &n
}

// IssuingCRL returns the stored CRL of the issuing CA (its DER is what the
// CRL distribution point serves), or nil without an issuing CA.
func (s *State) IssuingCRL() *pb.CRL {
	key, ok := s.issuingIssuer()
	if !ok {
		return nil
	}
	var best *pb.CRL
	for _, c := range s.CRLsOfIssuer(key) {
		if best == nil || preferCRL(c, best) {
			best = c
		}
	}
	return best
}

// issuingIssuer is the issuer identity of the issuing CA.
func (s *State) issuingIssuer() (pki.IssuerKey, bool) {
	ica := s.IssuingCA()
	if ica == nil {
		return pki.IssuerKey{}, false
	}
	certs, err := pki.ParseCertificates([]byte(ica.GetCertificatePem()))
	if err != nil || len(certs) == 0 {
		return pki.IssuerKey{}, false
	}
	return pki.IssuerKeyOf(certs[0]), true
}

// IsIssuingCA reports whether issuer is the account's issuing CA: mtlsgate
// publishes that CA's CRL itself, so the CRL learner never records the
// distribution point its certificates name (LearnCRLSource).
func (s *State) IsIssuingCA(issuer pki.IssuerKey) bool {
	k, ok := s.issuingIssuer()
	return ok && k == issuer
}

// RefreshIssuingCRL publishes the issuing CA's next CRL when the one held
// reaches the second half of its period (its nextUpdate less than
// period/2 ahead of now) or is missing, so that it never goes stale; it
// reports whether it published. The elected replica calls it (server).
func (s *Store) RefreshIssuingCRL(ctx context.Context, period time.Duration) (bool, error) {
	if period <= 0 {
		period = issuing.DefaultCRLPeriod
	}
	if !s.issuingCRLDue(s.Current(), period) {
		return false, nil
	}
	a := Actor{TokenID: "system", Action: "PublishIssuingCRL"}
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if !s.issuingCRLDue(st, period) {
			return nil, errNothingToPrune
		}
		ica, ca, err := loadIssuingCA(st)
		if err != nil {
			return nil, err
		}
		ops, err := s.publishCRLOps(st, a, ica, ca, s.now(), period)
		if err != nil {
			return nil, err
		}
		return s.auditWith(a, IssuingCARef, "published issuing CRL number "+big.NewInt(ica.GetCrlNumber()+1).String(), ops)
	})
	if errors.Is(err, errNothingToPrune) {
		return false, nil
	}
	return err == nil, err
}

// issuingCRLDue reports whether st has an issuing CA whose CRL is missing
// or due for re-signing: past half its period, and only when a new CRL
// would reach further (a CRL's nextUpdate stops at the CA's end, so near
// and after that end nothing is re-signed every minute in vain).
func (s *Store) issuingCRLDue(st *State, period time.Duration) bool {
	if st.IssuingCA() == nil {
		return false
	}
	crl := st.IssuingCRL()
	if crl == nil || crl.GetNextUpdate() == nil {
		return true
	}
	next := crl.GetNextUpdate().AsTime()
	if next.Sub(s.now()) >= period/2 {
		return false
	}
	certs, err := pki.ParseCertificates([]byte(st.IssuingCA().GetCertificatePem()))
	return err != nil || len(certs) == 0 || certs[0].NotAfter.After(next)
}

// PruneIssuedCertificates deletes the records of issued certificates that
// expired before cutoff (the server passes now minus the CRL period: they
// are on no CRL any more and can authenticate nowhere), in batches that
// fit one transaction, each audited; it returns how many went.
func (s *Store) PruneIssuedCertificates(ctx context.Context, cutoff time.Time) (int, error) {
	a := Actor{TokenID: "system", Action: "PruneIssuedCertificates"}
	total := 0
	for {
		n := 0
		_, err := s.commit(ctx, func(st *State) ([]Op, error) {
			var ops []Op
			for serial, c := range st.ext.issued {
				if len(ops) == pruneBatch {
					break
				}
				if c.GetNotAfter() != nil && c.GetNotAfter().AsTime().Before(cutoff) {
					ops = append(ops, Op{Key: issuedPrefix + serial, Delete: true})
				}
			}
			if n = len(ops); n == 0 {
				return nil, errNothingToPrune
			}
			return s.withAudit(a, Ref("issued/expired-before-"+stamp(cutoff)), ops, "", nil)
		})
		if errors.Is(err, errNothingToPrune) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		total += n
	}
}
