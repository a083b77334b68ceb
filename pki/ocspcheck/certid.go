package ocspcheck

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // CertID hashes
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// The parts of an OCSP response (RFC 6960 4.2.1) that checkCertID reads;
// the rest is left raw.
type (
	responseASN1 struct {
		Status asn1.Enumerated
		Bytes  responseBytesASN1 `asn1:"explicit,tag:0,optional"`
	}
	responseBytesASN1 struct {
		Type     asn1.ObjectIdentifier
		Response []byte
	}
	basicResponseASN1 struct {
		TBS          responseDataASN1
		Algorithm    asn1.RawValue
		Signature    asn1.BitString
		Certificates asn1.RawValue `asn1:"explicit,tag:0,optional"`
	}
	responseDataASN1 struct {
		Version     int `asn1:"optional,explicit,default:0,tag:0"`
		ResponderID asn1.RawValue
		ProducedAt  time.Time `asn1:"generalized"`
		Responses   []singleResponseASN1
		Extensions  asn1.RawValue `asn1:"optional,explicit,tag:1"`
	}
	singleResponseASN1 struct {
		CertID     certIDASN1
		CertStatus asn1.RawValue
		ThisUpdate time.Time     `asn1:"generalized"`
		NextUpdate time.Time     `asn1:"generalized,explicit,tag:0,optional"`
		Extensions asn1.RawValue `asn1:"explicit,tag:1,optional"`
	}
	certIDASN1 struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		NameHash      []byte
		KeyHash       []byte
		Serial        *big.Int
	}
	spkiASN1 struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
)

// certIDHashes are the CertID hash algorithms accepted.
var certIDHashes = map[string]crypto.Hash{
	"1.3.14.3.2.26":          crypto.SHA1,
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

// checkCertID checks that the single response about leaf's serial (the
// first, as x/crypto/ocsp takes it) names issuer: the hashes of its
// subject and of its public key. A serial alone names no certificate: a
// responder answering for several CAs would otherwise speak for another
// CA's certificate of the same serial.
func checkCertID(der []byte, leaf, issuer *x509.Certificate) error {
	var resp responseASN1
	if _, err := asn1.Unmarshal(der, &resp); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var basic basicResponseASN1
	if _, err := asn1.Unmarshal(resp.Bytes.Response, &basic); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	for _, single := range basic.TBS.Responses {
		id := single.CertID
		if id.Serial == nil || id.Serial.Cmp(leaf.SerialNumber) != 0 {
			continue
		}
		h, ok := certIDHashes[id.HashAlgorithm.Algorithm.String()]
		if !ok {
			return fmt.Errorf("%w: CertID hash algorithm %s", ErrMalformed, id.HashAlgorithm.Algorithm)
		}
		var spki spkiASN1
		if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
			return fmt.Errorf("ocsp: issuer public key: %w", err)
		}
		if !bytes.Equal(id.NameHash, digest(h, issuer.RawSubject)) || !bytes.Equal(id.KeyHash, digest(h, spki.PublicKey.RightAlign())) {
			return fmt.Errorf("%w: serial %X of another issuer than %s", ErrWrongCertificate, leaf.SerialNumber, issuer.Subject)
		}
		return nil
	}
	return fmt.Errorf("%w: no answer for serial %X", ErrWrongCertificate, leaf.SerialNumber)
}

func digest(h crypto.Hash, b []byte) []byte {
	d := h.New()
	d.Write(b)
	return d.Sum(nil)
}
