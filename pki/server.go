package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// ParseServerCertificate parses and checks a server certificate chain and
// its private key.
//
// chainPEM holds PEM "CERTIFICATE" blocks, leaf first, each certificate
// followed by its issuer (the subject of certificate #n+1 must equal the
// issuer of certificate #n); it must not contain a private key
// (ErrPrivateKey). DER is refused: Envoy wants PEM.
//
// keyPEM holds exactly one PEM private key: "PRIVATE KEY" (PKCS#8),
// "RSA PRIVATE KEY" (PKCS#1) or "EC PRIVATE KEY" (SEC1), of type RSA, ECDSA
// or Ed25519. "EC PARAMETERS" blocks (as written by openssl ecparam
// -genkey) and text around blocks are tolerated; any other block is refused.
// Encrypted keys (PKCS#8 "ENCRYPTED PRIVATE KEY" or legacy Proc-Type
// headers) are refused with ErrMalformed.
//
// The leaf must not be a CA certificate (ErrMalformed "server certificate
// is a CA"), which usually means the chain is in the wrong order; the one
// exception is a lone self-signed certificate, because openssl req -x509
// marks those CA:TRUE by default. The leaf's public key must equal the
// private key's public key, else ErrKeyMismatch.
func ParseServerCertificate(chainPEM, keyPEM []byte) ([]*x509.Certificate, crypto.Signer, error) {
	chain, err := parseCertificates(chainPEM, false)
	if err != nil {
		return nil, nil, err
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, nil, err
	}
	leaf := chain[0]
	if leaf.IsCA && !(len(chain) == 1 && isSelfSigned(leaf)) {
		return nil, nil, errorf(ErrMalformed, "server certificate is a CA: certificate #1 (%s) has basicConstraints CA=true; the chain must start with the server (leaf) certificate", dn(leaf.Subject))
	}
	for i := 0; i+1 < len(chain); i++ {
		if !bytes.Equal(chain[i].RawIssuer, chain[i+1].RawSubject) {
			return nil, nil, errorf(ErrMalformed, "certificate #%d (%s) is not the issuer of certificate #%d (issued by %s); the chain must be ordered leaf first, each certificate followed by its issuer",
				i+2, dn(chain[i+1].Subject), i+1, dn(chain[i].Issuer))
		}
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, nil, errorf(ErrKeyMismatch, "the %s private key does not match the %s public key of certificate #1 (%s)",
			describeKey(key.Public()), describeKey(leaf.PublicKey), dn(leaf.Subject))
	}
	return chain, key, nil
}

// isSelfSigned reports whether c names itself as issuer and its own key
// verifies its signature.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// pemTypeECParameters is the block openssl ecparam -genkey writes before an
// EC private key.
const pemTypeECParameters = "EC PARAMETERS"

// parsePrivateKey parses the single PEM private key of data. Its error
// messages never contain key material, not even the parser's error text.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errorf(ErrEmpty, "no private key data")
	}
	if !isPEM(data) {
		return nil, errorf(ErrMalformed, "the private key must be PEM-encoded (PKCS#1, PKCS#8 or SEC1)")
	}
	blocks, err := scanPEM(data)
	if err != nil {
		return nil, err
	}
	keyBlock, keyN, err := onlyKeyBlock(blocks)
	if err != nil {
		return nil, err
	}
	return decodePrivateKey(keyBlock, keyN)
}

// onlyKeyBlock returns the one private key block of blocks and its number
// (from 1), refusing encrypted keys, other blocks (EC PARAMETERS aside), a
// second key, and headers.
func onlyKeyBlock(blocks []*pem.Block) (*pem.Block, int, error) {
	var keyBlock *pem.Block
	keyN := 0
	for i, b := range blocks {
		n := i + 1
		switch {
		case b.Type == pemTypeECParameters:
			continue
		case b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED"):
			return nil, 0, errorf(ErrMalformed, "PEM block #%d: encrypted private keys are not supported; decrypt the key first (for example with openssl pkey)", n)
		case !isPrivateKeyType(b.Type):
			return nil, 0, errorf(ErrMalformed, "PEM block #%d has type %s; the key input must contain only the private key", n, quote(b.Type))
		case keyBlock != nil:
			return nil, 0, errorf(ErrMalformed, "PEM block #%d is a second private key (the first is block #%d); expected exactly one", n, keyN)
		}
		keyBlock, keyN = b, n
	}
	if keyBlock == nil {
		return nil, 0, errorf(ErrEmpty, "no PRIVATE KEY PEM block found")
	}
	if len(keyBlock.Headers) > 0 {
		return nil, 0, errorf(ErrMalformed, "PEM block #%d (%s) has headers, which are not allowed", keyN, quote(keyBlock.Type))
	}
	return keyBlock, keyN, nil
}

// decodePrivateKey decodes key block number keyN: PKCS#8, PKCS#1 or SEC1,
// holding an RSA, ECDSA or Ed25519 key.
func decodePrivateKey(keyBlock *pem.Block, keyN int) (crypto.Signer, error) {
	var (
		key    any
		format string
		err    error
	)
	switch keyBlock.Type {
	case "PRIVATE KEY":
		format = "PKCS#8"
		key, err = x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	case "RSA PRIVATE KEY":
		format = "PKCS#1 RSA"
		key, err = x509.ParsePKCS1PrivateKey(keyBlock.Bytes)
	case "EC PRIVATE KEY":
		format = "SEC1 EC"
		key, err = x509.ParseECPrivateKey(keyBlock.Bytes)
	default:
		return nil, errorf(ErrMalformed, "PEM block #%d has unsupported private key type %s; use PRIVATE KEY (PKCS#8), RSA PRIVATE KEY (PKCS#1) or EC PRIVATE KEY (SEC1)", keyN, quote(keyBlock.Type))
	}
	if err != nil {
		// The parser's message is deliberately not included.
		return nil, errorf(ErrMalformed, "PEM block #%d (%s) is not a valid %s private key", keyN, quote(keyBlock.Type), format)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, errorf(ErrMalformed, "PEM block #%d holds a %s key; only RSA, ECDSA and Ed25519 are supported", keyN, keyAlgorithm(key))
	}
}

// keyAlgorithm names the algorithm of a private key of an unsupported type.
func keyAlgorithm(key any) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", key), "*")
}

// describeKey names a public key's algorithm and size for messages.
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	case nil:
		return "unsupported"
	default:
		return keyAlgorithm(pub)
	}
}
