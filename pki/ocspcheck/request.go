package ocspcheck

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// Query is one question to a responder: the status of the certificate
// with Serial issued by Issuer, with an optional nonce.
type Query struct {
	Serial *big.Int
	Issuer *x509.Certificate
	// Nonce, when set (1 to 32 bytes, RFC 8954), is sent in the request,
	// and Verify requires the response to carry it back.
	Nonce []byte
}

// oidNonce is id-pkix-ocsp-nonce (RFC 6960 4.4.1).
var oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// oidSHA1 is the CertID hash of every request: the one all responders
// support (RFC 5019 2.1.1).
var oidSHA1 = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}

// The request structures of RFC 6960 4.1.1 that Request writes: no
// requestor name and no signature, which responders do not require.
type (
	requestASN1 struct {
		TBS tbsRequestASN1
	}
	tbsRequestASN1 struct {
		List       []singleRequestASN1
		Extensions []pkix.Extension `asn1:"explicit,tag:2,optional"`
	}
	singleRequestASN1 struct {
		CertID certIDASN1
	}
)

// NewNonce returns a random 32-byte nonce, the length RFC 8954 asks for.
func NewNonce() ([]byte, error) {
	n := make([]byte, 32)
	if _, err := rand.Read(n); err != nil {
		return nil, fmt.Errorf("ocsp: nonce: %w", err)
	}
	return n, nil
}

// Request is the DER OCSP request for q, with a SHA-1 CertID and, when q
// has a nonce, the nonce extension (its value the DER OCTET STRING of the
// nonce, as RFC 8954 and OpenSSL write it).
func (q *Query) Request() ([]byte, error) {
	id, err := certID(q.Serial, q.Issuer)
	if err != nil {
		return nil, err
	}
	req := requestASN1{TBS: tbsRequestASN1{List: []singleRequestASN1{{CertID: id}}}}
	if q.Nonce != nil {
		if len(q.Nonce) == 0 || len(q.Nonce) > 32 {
			return nil, fmt.Errorf("ocsp: a nonce is 1 to 32 bytes, got %d", len(q.Nonce))
		}
		v, err := asn1.Marshal(q.Nonce)
		if err != nil {
			return nil, fmt.Errorf("ocsp: nonce: %w", err)
		}
		req.TBS.Extensions = []pkix.Extension{{Id: oidNonce, Value: v}}
	}
	der, err := asn1.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("ocsp: request: %w", err)
	}
	return der, nil
}

// certID is the SHA-1 CertID of the certificate with serial issued by
// issuer: the hashes of the issuer's subject and of its public key.
func certID(serial *big.Int, issuer *x509.Certificate) (certIDASN1, error) {
	if serial == nil || issuer == nil {
		return certIDASN1{}, fmt.Errorf("ocsp: a request needs a serial and an issuer")
	}
	var spki spkiASN1
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return certIDASN1{}, fmt.Errorf("ocsp: issuer public key: %w", err)
	}
	return certIDASN1{
		HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.NullRawValue},
		NameHash:      digest(crypto.SHA1, issuer.RawSubject),
		KeyHash:       digest(crypto.SHA1, spki.PublicKey.RightAlign()),
		Serial:        serial,
	}, nil
}
