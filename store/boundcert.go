package store

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/mtlsgate/mtlsgate/pki"
)

// Bounds of decoding a PKCS#12 file a user uploads to bind its certificate.
const (
	// maxPKCS12Iterations bounds every key-derivation iteration count the
	// file shows before decryption (OpenSSL writes 2048; 600,000 is the
	// highest in common use). The count is the file's to choose, and
	// decoding costs time in proportion to it.
	maxPKCS12Iterations = 1 << 20
	// maxDERDepth bounds the nesting the pre-scan follows.
	maxDERDepth = 32
	// pkcs12Wait is how long a caller waits for a decode. Parameters
	// nested inside encrypted content cannot be checked beforehand: such
	// a decode may outlast the wait, and goes on alone (one at a time).
	pkcs12Wait = 10 * time.Second
)

// pkcs12Slot lets one PKCS#12 decode run at a time.
var pkcs12Slot = make(chan struct{}, 1)

// errPKCS12Busy refuses a PKCS#12 file while another is still decoding.
var errPKCS12Busy = errors.New("another PKCS#12 file is still being decoded; try again later")

// parseBoundCertificate reads the one certificate of data: PEM, DER, or
// a PKCS#12 file (opened with password), whose certificate matching its
// key is taken and whose key is dropped.
func parseBoundCertificate(data []byte, password string, maxBytes int) (*x509.Certificate, error) {
	if len(data) > maxBytes {
		return nil, fmt.Errorf("%w: certificate is %d bytes, more than the %d-byte cap", ErrLimit, len(data), maxBytes)
	}
	certs, perr := pki.ParseCertificates(data)
	if perr == nil {
		if len(certs) != 1 {
			return nil, invalid("certificate", "holds %d certificates: bind one at a time", len(certs))
		}
		return certs[0], nil
	}
	if len(data) == 0 || data[0] != 0x30 {
		return nil, invalid("certificate", "%w", perr)
	}
	c, err := decodePKCS12(data, password)
	if err != nil {
		return nil, invalid("certificate", "neither a certificate (%v) nor a PKCS#12 file (%w)", perr, err)
	}
	return c, nil
}

// decodePKCS12 checks data's visible iteration counts, then decodes it,
// one file at a time, waiting at most pkcs12Wait.
func decodePKCS12(data []byte, password string) (*x509.Certificate, error) {
	if err := scanIterations(cryptobyte.String(data), 0); err != nil {
		return nil, err
	}
	select {
	case pkcs12Slot <- struct{}{}:
	default:
		return nil, errPKCS12Busy
	}
	type result struct {
		c   *x509.Certificate
		err error
	}
	done := make(chan result, 1)
	go func() { // owned by the slot: the next decode waits for its end
		defer func() { <-pkcs12Slot }()
		key, leaf, cas, err := pkcs12.DecodeChain(bytes.Clone(data), password)
		done <- result{matching(key, leaf, cas), err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-time.After(pkcs12Wait):
		return nil, fmt.Errorf("decoding took more than %s (iteration counts too high?)", pkcs12Wait)
	}
}

// matching returns the certificate whose public key is key's, else leaf.
func matching(key any, leaf *x509.Certificate, cas []*x509.Certificate) *x509.Certificate {
	k, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return leaf
	}
	pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return leaf
	}
	for _, c := range append([]*x509.Certificate{leaf}, cas...) {
		if c != nil && pub.Equal(c.PublicKey) {
			return c
		}
	}
	return leaf
}

// scanIterations walks DER (descending into OCTET STRINGs that hold DER,
// as PKCS#12's plaintext parts do) and refuses an INTEGER right after an
// OCTET STRING in a SEQUENCE above maxPKCS12Iterations: the shape of
// pbeParams, PBKDF2-params and MacData (salt, then iteration count).
// Linear in len(der): each byte is visited at most maxDERDepth times.
func scanIterations(der cryptobyte.String, depth int) error {
	if depth > maxDERDepth {
		return fmt.Errorf("nested more than %d deep", maxDERDepth)
	}
	prevOctets := false
	for !der.Empty() {
		var body cryptobyte.String
		var tag cbasn1.Tag
		if !der.ReadAnyASN1(&body, &tag) {
			return nil // not DER (encrypted bytes): the decoder judges
		}
		switch {
		case tag == cbasn1.INTEGER && prevOctets:
			if len(body) > 4 || bigEndian(body) > maxPKCS12Iterations {
				return fmt.Errorf("an iteration count is above %d", maxPKCS12Iterations)
			}
		case tag&0x20 != 0 || tag == cbasn1.OCTET_STRING: // constructed, or octets
			if err := scanIterations(body, depth+1); err != nil {
				return err
			}
		}
		prevOctets = tag == cbasn1.OCTET_STRING
	}
	return nil
}

// bigEndian reads at most 4 bytes as an unsigned number.
func bigEndian(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

// SelfSigned reports whether c names itself as issuer and its signature
// verifies with its own key. (x509's CheckSignatureFrom would refuse a
// parent that is not a CA: a PKI-less client certificate is not one.)
func SelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
