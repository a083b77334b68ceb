package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// CRLSourceID is the id of the learned source of url: a hash of it.
func CRLSourceID(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:16])
}

// LearnCRLSource records url, named by the cRLDistributionPoints of the
// verified certificate fingerprint fp for the CRL of issuer, so that the
// fetcher fetches it. A URL already known writes nothing and returns
// false; the URL is validated as an operator's CRL URL is, and past
// Limits.MaxCRLSources it is refused (ErrLimit). The caller has verified the
// certificate's chain to an uploaded CA. A URL named by a certificate of the
// issuing CA is not learned (false, nil): mtlsgate holds that CRL already.
func (s *Store) LearnCRLSource(ctx context.Context, a Actor, url string, issuer pki.IssuerKey, fp string) (bool, error) {
	if err := checkCRLURLs("url", []string{url}); err != nil {
		return false, err
	}
	if s.Current().IsIssuingCA(issuer) {
		return false, nil // mtlsgate signs this CRL itself: nothing to fetch
	}
	id := CRLSourceID(url)
	if s.Current().crlSources[id] != nil {
		return false, nil
	}
	src := &pb.CRLSource{Id: id, Url: url, IssuerNameDer: []byte(issuer.Name), IssuerSpkiSha256: issuer.SPKI,
		LearnedFrom: fp, LearnedAt: timestamppb.New(s.now())}
	learned := false
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.crlSources[id] != nil {
			learned = false
			return nil, nil
		}
		if len(st.crlSources) >= s.limits.MaxCRLSources {
			return nil, fmt.Errorf("%w: %d CRL distribution points learned already (limits.max_crl_sources %d)", ErrLimit, len(st.crlSources), s.limits.MaxCRLSources)
		}
		learned = true
		return s.withAudit(a, CRLSourceRef(id), nil, crlSourcePrefix+id, src)
	})
	return learned, err
}

// PruneCRLSources deletes the learned distribution points whose issuer is
// no longer uploaded (their CRL could not be verified, and the fetcher
// skips them), in batches that fit one transaction; it returns how many
// went.
func (s *Store) PruneCRLSources(ctx context.Context) (int, error) {
	a := Actor{TokenID: "system", Action: "PruneCRLSources"}
	total := 0
	for {
		n := 0
		_, err := s.commit(ctx, func(st *State) ([]Op, error) {
			uploaded, err := uploadedIssuers(st)
			if err != nil {
				return nil, err
			}
			var ops []Op
			for id, src := range st.crlSources {
				if len(ops) == pruneBatch {
					break
				}
				if !uploaded[pki.IssuerKey{Name: string(src.GetIssuerNameDer()), SPKI: src.GetIssuerSpkiSha256()}] {
					ops = append(ops, Op{Key: crlSourcePrefix + id, Delete: true})
				}
			}
			if n = len(ops); n == 0 {
				return nil, errNothingToPrune
			}
			return s.withAudit(a, CRLSourceRef("orphaned"), ops, "", nil)
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

// uploadedIssuers are the issuer identities of every uploaded CA
// certificate.
func uploadedIssuers(st *State) (map[pki.IssuerKey]bool, error) {
	byCA, err := caCertificates(st)
	if err != nil {
		return nil, err
	}
	out := map[pki.IssuerKey]bool{}
	for _, certs := range byCA {
		for _, c := range certs {
			out[pki.IssuerKeyOf(c)] = true
		}
	}
	return out, nil
}
