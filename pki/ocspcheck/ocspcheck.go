// Package ocspcheck builds OCSP requests and verifies OCSP responses for
// one certificate (RFC 6960, RFC 5019), on top of golang.org/x/crypto/ocsp,
// adding the checks it leaves to its caller: that the response speaks of
// this issuer's certificate (the CertID's issuer name and key hashes, not
// only the serial), that a delegated responder certificate carries
// id-kp-OCSPSigning and is within its validity, and that the answer is
// current (thisUpdate not in the future, nextUpdate not past).
package ocspcheck

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Status is what a responder says of a certificate.
type Status int

// The statuses of RFC 6960 4.2.1.
const (
	Good Status = iota
	Revoked
	Unknown
)

func (s Status) String() string {
	return [...]string{"good", "revoked", "unknown"}[s]
}

// Answer is a verified response about one certificate.
type Answer struct {
	Status Status
	// RevokedAt and Reason (an RFC 5280 CRLReason code) when Revoked.
	RevokedAt time.Time
	Reason    int
	// ThisUpdate, NextUpdate (zero when the responder gave none) and
	// ProducedAt as the response says.
	ThisUpdate, NextUpdate, ProducedAt time.Time
	// Delegated is set when a responder certificate issued by the issuer
	// signed the response, rather than the issuer itself.
	Delegated bool
}

// Errors a caller decides on; each is wrapped with the detail.
var (
	// ErrResponder: the responder answered with an error status
	// (malformedRequest, internalError, tryLater, sigRequired,
	// unauthorized).
	ErrResponder = errors.New("ocsp: the responder refused the request")
	// ErrMalformed: the bytes are not an OCSP response.
	ErrMalformed = errors.New("ocsp: malformed response")
	// ErrSignature: the response is not signed by the issuer or by a
	// responder certificate the issuer issued.
	ErrSignature = errors.New("ocsp: response not signed by the issuer or its responder")
	// ErrDelegate: the responder certificate may not sign OCSP responses
	// (no id-kp-OCSPSigning) or is outside its validity.
	ErrDelegate = errors.New("ocsp: the responder certificate may not answer")
	// ErrWrongCertificate: the response speaks of another certificate.
	ErrWrongCertificate = errors.New("ocsp: the response is about another certificate")
	// ErrNotYetValid: thisUpdate is in the future.
	ErrNotYetValid = errors.New("ocsp: the response is not yet valid")
	// ErrStale: nextUpdate has passed.
	ErrStale = errors.New("ocsp: the response is past its nextUpdate")
	// ErrNonce: a nonce was sent and the response does not carry it back.
	ErrNonce = errors.New("ocsp: nonce mismatch")
)

// Verify checks der as the answer to q at now, allowing skew between the
// responder's clock and ours.
func (q *Query) Verify(der []byte, now time.Time, skew time.Duration) (*Answer, error) {
	if q.Serial == nil || q.Issuer == nil {
		return nil, fmt.Errorf("ocsp: a query needs a serial and an issuer")
	}
	r, err := q.parse(der)
	if err != nil {
		return nil, err
	}
	if err := checkResponseData(der, q); err != nil {
		return nil, err
	}
	a := &Answer{ThisUpdate: r.ThisUpdate, NextUpdate: r.NextUpdate, ProducedAt: r.ProducedAt}
	if r.Certificate != nil && !sameEntity(r.Certificate, q.Issuer) {
		if err := checkDelegate(r.Certificate, now, skew); err != nil {
			return nil, err
		}
		a.Delegated = true
	}
	if r.ThisUpdate.After(now.Add(skew)) {
		return nil, fmt.Errorf("%w: thisUpdate %s", ErrNotYetValid, r.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if !r.NextUpdate.IsZero() && now.After(r.NextUpdate.Add(skew)) {
		return nil, fmt.Errorf("%w: nextUpdate %s", ErrStale, r.NextUpdate.UTC().Format(time.RFC3339))
	}
	switch r.Status {
	case ocsp.Good:
		a.Status = Good
	case ocsp.Revoked:
		a.Status, a.RevokedAt, a.Reason = Revoked, r.RevokedAt, r.RevocationReason
	default:
		a.Status = Unknown
	}
	return a, nil
}

// parse reads der with x/crypto/ocsp and checks its signature: by the
// issuer, or by the first certificate it embeds, itself signed by the
// issuer. x/crypto/ocsp requires an embedded certificate to be signed by
// the issuer, which refuses an issuer that embeds its own certificate
// (OpenSSL's responder does by default) unless it is self-signed: an
// answer refused that way is read again without the issuer, and accepted
// when the embedded certificate is the issuer (same name and key) and the
// issuer's key verifies it.
func (q *Query) parse(der []byte) (*ocsp.Response, error) {
	// x/crypto/ocsp reads only the serial of the certificate it is given.
	cert := &x509.Certificate{SerialNumber: q.Serial}
	r, err := ocsp.ParseResponseForCert(der, cert, q.Issuer)
	if err == nil {
		return r, nil
	}
	if again, err2 := ocsp.ParseResponseForCert(der, cert, nil); err2 == nil && again.Certificate != nil &&
		sameEntity(again.Certificate, q.Issuer) && again.CheckSignatureFrom(q.Issuer) == nil {
		return again, nil
	}
	return nil, parseError(err)
}

// sameEntity reports whether a and b are the same CA: the same subject
// and the same public key.
func sameEntity(a, b *x509.Certificate) bool {
	return bytes.Equal(a.RawSubject, b.RawSubject) && bytes.Equal(a.RawSubjectPublicKeyInfo, b.RawSubjectPublicKeyInfo)
}

// parseError sorts x/crypto/ocsp's errors.
func parseError(err error) error {
	var re ocsp.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%w: %s", ErrResponder, re.Status)
	}
	var pe ocsp.ParseError
	if errors.As(err, &pe) {
		switch msg := string(pe); {
		case msg == "no response matching the supplied certificate":
			return fmt.Errorf("%w: %s", ErrWrongCertificate, msg)
		case len(msg) >= 13 && (msg[:13] == "bad OCSP sign" || msg[:13] == "bad signature"):
			return fmt.Errorf("%w: %s", ErrSignature, msg)
		}
		return fmt.Errorf("%w: %s", ErrMalformed, pe)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// checkDelegate holds a delegated responder certificate (already checked
// to be signed by the issuer) to RFC 6960 4.2.2.2.
func checkDelegate(c *x509.Certificate, now time.Time, skew time.Duration) error {
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return fmt.Errorf("%w: %s lacks the id-kp-OCSPSigning extended key usage", ErrDelegate, c.Subject)
	}
	if now.Add(skew).Before(c.NotBefore) || now.Add(-skew).After(c.NotAfter) {
		return fmt.Errorf("%w: %s is valid from %s to %s", ErrDelegate, c.Subject,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
