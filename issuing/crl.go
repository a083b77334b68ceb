package issuing

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"
)

// DefaultCRLPeriod is how far ahead a CRL's nextUpdate lies by default.
const DefaultCRLPeriod = 7 * 24 * time.Hour

// Revoked is one entry of the CRL.
type Revoked struct {
	Serial    *big.Int
	RevokedAt time.Time
}

// CRL signs the CA's CRL number listing revoked, valid from now for
// period: every certificate the CA revoked and that has not expired (the
// caller leaves the expired ones out). It returns the DER.
func (ca *CA) CRL(revoked []Revoked, number int64, now time.Time, period time.Duration) ([]byte, error) {
	if period <= 0 {
		period = DefaultCRLPeriod
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, r := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.Serial, RevocationTime: r.RevokedAt.UTC()})
	}
	next := now.Add(period)
	if next.After(ca.Cert.NotAfter) {
		next = ca.Cert.NotAfter
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                now.UTC(),
		NextUpdate:                next.UTC(),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing: sign CRL: %w", err)
	}
	return der, nil
}
