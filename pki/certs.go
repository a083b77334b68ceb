package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"

	mtlsgatev1 "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// pemTypeCertificate is the only PEM block type accepted for certificates.
const pemTypeCertificate = "CERTIFICATE"

// ParseCertificates parses one or more certificates.
//
// data is either exactly one DER certificate, or PEM holding one or more
// "CERTIFICATE" blocks. Text between, before and after PEM blocks (such as
// the "subject=" and "issuer=" lines openssl prints) is tolerated, like
// Envoy/OpenSSL do, provided it contains no BEGIN or END marker: a
// truncated or garbled block is refused, never skipped. PEM blocks with
// headers are refused.
//
// Errors: ErrEmpty for empty or whitespace-only input; ErrPrivateKey when
// any PEM block (even an undecodable one) is a private key, or the DER input
// is a private key; ErrMalformed for anything else that is wrong, naming the
// PEM block number and type.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	return parseCertificates(data, true)
}

// parseCertificates implements ParseCertificates; allowDER selects whether
// a single DER certificate is accepted.
func parseCertificates(data []byte, allowDER bool) ([]*x509.Certificate, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errorf(ErrEmpty, "no certificate data")
	}
	// DER is tried first, so that a DER certificate that happens to contain
	// the bytes "-----BEGIN" is not mistaken for PEM.
	derLike := data[0] == 0x30 // ASN.1 SEQUENCE
	var derErr error
	if derLike {
		c, err := x509.ParseCertificate(data)
		if err == nil {
			if !allowDER {
				return nil, errorf(ErrMalformed, "certificates must be PEM-encoded, got a DER certificate")
			}
			return []*x509.Certificate{c}, nil
		}
		derErr = err
	}
	if !isPEM(data) {
		if derLike && isDERPrivateKey(data) {
			return nil, errorf(ErrPrivateKey, "input is a DER-encoded private key, expected certificates")
		}
		if derLike && allowDER {
			return nil, errorf(ErrMalformed, "DER input is not a valid certificate: %v", derErr)
		}
		if allowDER {
			return nil, errorf(ErrMalformed, "input is neither PEM nor a DER certificate")
		}
		return nil, errorf(ErrMalformed, "input is not PEM (no -----BEGIN line)")
	}
	if n, t := findPrivateKeyBlock(data); n > 0 {
		return nil, errorf(ErrPrivateKey, "PEM block #%d is a private key (%s); upload certificates only", n, quote(t))
	}
	blocks, err := scanPEM(data)
	if err != nil {
		return nil, err
	}
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		n := i + 1
		if b.Type != pemTypeCertificate {
			return nil, errorf(ErrMalformed, "PEM block #%d has type %s, expected CERTIFICATE", n, quote(b.Type))
		}
		if len(b.Headers) > 0 {
			return nil, errorf(ErrMalformed, "PEM block #%d (CERTIFICATE) has headers, which are not allowed", n)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, errorf(ErrMalformed, "PEM block #%d is not a valid certificate: %v", n, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// ParseCABundle parses a client CA bundle: ParseCertificates, and then every
// certificate must be a CA certificate (basicConstraints present with
// CA=true) whose keyUsage, when present, includes keyCertSign; otherwise
// ErrNotCA naming the certificate number (from 1) and subject. A
// certificate appearing twice is refused with ErrMalformed.
func ParseCABundle(data []byte) ([]*x509.Certificate, error) {
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]int, len(certs))
	for i, c := range certs {
		n := i + 1
		switch {
		case !c.BasicConstraintsValid:
			return nil, errorf(ErrNotCA, "certificate #%d (%s) has no basicConstraints extension, so it is not a CA", n, dn(c.Subject))
		case !c.IsCA:
			return nil, errorf(ErrNotCA, "certificate #%d (%s) is not a CA (basicConstraints CA=false)", n, dn(c.Subject))
		case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
			return nil, errorf(ErrNotCA, "certificate #%d (%s) has a keyUsage extension without keyCertSign, so it cannot issue certificates", n, dn(c.Subject))
		}
		if first, ok := seen[string(c.Raw)]; ok {
			return nil, errorf(ErrMalformed, "certificate #%d (%s) is a duplicate of certificate #%d", n, dn(c.Subject), first)
		}
		seen[string(c.Raw)] = n
	}
	return certs, nil
}

// EncodePEM returns the canonical PEM encoding of certs: one "CERTIFICATE"
// block per certificate, in order, without headers or text between blocks.
func EncodePEM(certs []*x509.Certificate) string {
	var sb strings.Builder
	for _, c := range certs {
		sb.Write(pem.EncodeToMemory(&pem.Block{Type: pemTypeCertificate, Bytes: c.Raw}))
	}
	return sb.String()
}

// Fingerprint returns the lowercase hex SHA-256 of der, normally a
// certificate's DER encoding (x509.Certificate.Raw).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// SerialHex formats a certificate serial number as uppercase hex without
// leading zeros ("0" for zero). Negative serials, which exist in the wild,
// are prefixed with "-". A nil serial yields "".
func SerialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	return strings.ToUpper(n.Text(16))
}

// Info returns the facts mtlsgate records about a certificate: subject and
// issuer as RFC 4514 strings (pkix.Name.String), SHA-256 fingerprint,
// serial, validity period, whether it is a CA, and its DNS names. Info(nil)
// is nil.
func Info(c *x509.Certificate) *mtlsgatev1.CertificateInfo {
	if c == nil {
		return nil
	}
	var dnsNames []string
	if len(c.DNSNames) > 0 {
		dnsNames = append([]string(nil), c.DNSNames...)
	}
	return &mtlsgatev1.CertificateInfo{
		Subject:           c.Subject.String(),
		Issuer:            c.Issuer.String(),
		Sha256Fingerprint: Fingerprint(c.Raw),
		Serial:            SerialHex(c.SerialNumber),
		NotBefore:         timestamppb.New(c.NotBefore),
		NotAfter:          timestamppb.New(c.NotAfter),
		IsCa:              c.BasicConstraintsValid && c.IsCA,
		DnsNames:          dnsNames,
	}
}
