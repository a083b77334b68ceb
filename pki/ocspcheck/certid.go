package ocspcheck

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // CertID hashes
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"slices"
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
		Extensions  []pkix.Extension `asn1:"optional,explicit,tag:1"`
	}
	singleResponseASN1 struct {
		CertID     certIDASN1
		CertStatus asn1.RawValue
		ThisUpdate time.Time        `asn1:"generalized"`
		NextUpdate time.Time        `asn1:"generalized,explicit,tag:0,optional"`
		Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
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

// checkResponseData checks what x/crypto/ocsp leaves unchecked in the
// response data: that the single response about q's serial (the first, as
// x/crypto/ocsp takes it) names q's issuer, by the hashes of its subject
// and of its public key (a serial alone names no certificate: a responder
// answering for several CAs would otherwise speak for another CA's
// certificate of the same serial), and that q's nonce, if any, came back.
func checkResponseData(der []byte, q *Query) error {
	var resp responseASN1
	if _, err := asn1.Unmarshal(der, &resp); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var basic basicResponseASN1
	if _, err := asn1.Unmarshal(resp.Bytes.Response, &basic); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	single, err := checkCertID(basic.TBS.Responses, q)
	if err != nil {
		return err
	}
	// RFC 5280 4.2 as RFC 6960 applies it: an extension marked critical
	// that the client does not understand makes the answer unusable.
	for _, e := range append(slices.Clip(basic.TBS.Extensions), single.Extensions...) {
		if e.Critical && !e.Id.Equal(oidNonce) {
			return fmt.Errorf("%w: unhandled critical extension %s", ErrMalformed, e.Id)
		}
	}
	if q.Nonce == nil {
		return nil
	}
	want, err := asn1.Marshal(q.Nonce)
	if err != nil {
		return fmt.Errorf("ocsp: nonce: %w", err)
	}
	// RFC 8954 puts the nonce in responseExtensions; some responders
	// (x/crypto/ocsp's CreateResponse among them) can only write
	// singleExtensions. Both are inside the signed data, so either proves
	// the answer was made for this request.
	for _, e := range append(slices.Clip(basic.TBS.Extensions), single.Extensions...) {
		if e.Id.Equal(oidNonce) {
			if !bytes.Equal(e.Value, want) {
				return fmt.Errorf("%w: the nonce differs from the one sent", ErrNonce)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: the response carries no nonce", ErrNonce)
}

// checkCertID finds the single response about q's serial and checks its
// issuer hashes.
func checkCertID(responses []singleResponseASN1, q *Query) (*singleResponseASN1, error) {
	for i := range responses {
		single := &responses[i]
		id := single.CertID
		if id.Serial == nil || id.Serial.Cmp(q.Serial) != 0 {
			continue
		}
		h, ok := certIDHashes[id.HashAlgorithm.Algorithm.String()]
		if !ok {
			return nil, fmt.Errorf("%w: CertID hash algorithm %s", ErrMalformed, id.HashAlgorithm.Algorithm)
		}
		var spki spkiASN1
		if _, err := asn1.Unmarshal(q.Issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
			return nil, fmt.Errorf("ocsp: issuer public key: %w", err)
		}
		if !bytes.Equal(id.NameHash, digest(h, q.Issuer.RawSubject)) || !bytes.Equal(id.KeyHash, digest(h, spki.PublicKey.RightAlign())) {
			return nil, fmt.Errorf("%w: serial %X of another issuer than %s", ErrWrongCertificate, q.Serial, q.Issuer.Subject)
		}
		return single, nil
	}
	return nil, fmt.Errorf("%w: no answer for serial %X", ErrWrongCertificate, q.Serial)
}

func digest(h crypto.Hash, b []byte) []byte {
	d := h.New()
	d.Write(b)
	return d.Sum(nil)
}
