package pki

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func TestParseServerCertificateOK(t *testing.T) {
	f := testPKI()
	ecParams := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
	tests := []struct {
		name  string
		chain []*x509.Certificate
		key   string
		pub   crypto.PublicKey
	}{
		{"ECDSA SEC1 with intermediate", []*x509.Certificate{f.leaf, f.inter}, sec1PEM(f.leafKey), &f.leafKey.PublicKey},
		{"ECDSA PKCS#8 full chain", []*x509.Certificate{f.leaf, f.inter, f.root}, pkcs8PEM(f.leafKey), &f.leafKey.PublicKey},
		{"ECDSA with EC PARAMETERS", []*x509.Certificate{f.leaf}, ecParams + sec1PEM(f.leafKey), &f.leafKey.PublicKey},
		{"key with text around", []*x509.Certificate{f.leaf}, "Private-Key: (256 bit)\n" + pkcs8PEM(f.leafKey) + "\n", &f.leafKey.PublicKey},
		{"RSA PKCS#1", []*x509.Certificate{f.rsaLeaf, f.rsaRoot}, pkcs1PEM(f.rsaLeafKey), &f.rsaLeafKey.PublicKey},
		{"RSA PKCS#8", []*x509.Certificate{f.rsaLeaf}, pkcs8PEM(f.rsaLeafKey), &f.rsaLeafKey.PublicKey},
		{"Ed25519 PKCS#8", []*x509.Certificate{f.edLeaf}, pkcs8PEM(f.edLeafKey), f.edLeafKey.Public()},
		{"self-signed CA:TRUE", []*x509.Certificate{f.selfSigned}, sec1PEM(f.selfSignedKey), &f.selfSignedKey.PublicKey},
		{"expired leaf is accepted", []*x509.Certificate{f.expired, f.inter}, sec1PEM(f.leafKey), &f.leafKey.PublicKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain, key, err := ParseServerCertificate([]byte(pemOf(tt.chain...)), []byte(tt.key))
			if err != nil {
				t.Fatalf("ParseServerCertificate: %v", err)
			}
			if !sameDERs(chain, tt.chain) {
				t.Fatal("wrong chain")
			}
			if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.pub) {
				t.Fatal("wrong key")
			}
			// The key must be usable for signing.
			digest := make([]byte, 32)
			var opts crypto.SignerOpts = crypto.SHA256
			if _, ok := tt.pub.(ed25519.PublicKey); ok {
				opts = crypto.Hash(0)
			}
			if _, err := key.Sign(rand.Reader, digest, opts); err != nil {
				t.Fatalf("Sign: %v", err)
			}
		})
	}
}

func TestParseServerCertificateErrors(t *testing.T) {
	f := testPKI()
	chain := pemOf(f.leaf, f.inter)
	key := sec1PEM(f.leafKey)
	legacyEncrypted := string(pem.EncodeToMemory(&pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   []byte("0123456789abcdef0123456789abcdef"),
	}))
	pkcs8 := pkcs8PEM(f.leafKey)
	tests := []struct {
		name      string
		chain     string
		key       string
		want      error
		fragments []string
	}{
		{"empty chain", "", key, ErrEmpty, nil},
		{"empty key", chain, " \n", ErrEmpty, []string{"private key"}},
		{"only EC PARAMETERS", chain, "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n", ErrEmpty, []string{"no PRIVATE KEY"}},
		{"key in chain", chain + key, key, ErrPrivateKey, []string{"PEM block #3", `"EC PRIVATE KEY"`}},
		{"key as chain", key, key, ErrPrivateKey, []string{"PEM block #1"}},
		{"DER key as chain", string(must(x509.MarshalECPrivateKey(f.leafKey))), key, ErrPrivateKey, []string{"DER"}},
		{"DER chain", string(f.leaf.Raw), key, ErrMalformed, []string{"PEM"}},
		{"garbled chain", chain[:100], key, ErrMalformed, []string{"PEM block #1"}},
		{"CRL in chain", chain + crlPEM(f.crlByInter), key, ErrMalformed, []string{"PEM block #3", `"X509 CRL"`}},
		{"DER key", chain, string(must(x509.MarshalECPrivateKey(f.leafKey))), ErrMalformed, []string{"PEM-encoded"}},
		{"encrypted PKCS#8", chain, pemBlock("ENCRYPTED PRIVATE KEY", []byte("0123456789abcdef")), ErrMalformed, []string{"encrypted private keys are not supported"}},
		{"legacy encrypted PEM", chain, legacyEncrypted, ErrMalformed, []string{"encrypted private keys are not supported"}},
		{"certificate in key", chain, key + pemOf(f.leaf), ErrMalformed, []string{"PEM block #2", `"CERTIFICATE"`}},
		{"two keys", chain, key + pkcs8, ErrMalformed, []string{"PEM block #2", "second private key"}},
		{"truncated key", chain, key[:len(key)-20], ErrMalformed, []string{"PEM block #1", "truncated"}},
		{"PKCS#8 labelled RSA PRIVATE KEY", chain, strings.ReplaceAll(pkcs8, "PRIVATE KEY", "RSA PRIVATE KEY"), ErrMalformed, []string{"PEM block #1", "not a valid PKCS#1 RSA private key"}},
		{"PKCS#1 labelled PRIVATE KEY", pemOf(f.rsaLeaf), strings.ReplaceAll(pkcs1PEM(f.rsaLeafKey), "RSA PRIVATE KEY", "PRIVATE KEY"), ErrMalformed, []string{"not a valid PKCS#8 private key"}},
		{"garbage EC key", chain, pemBlock("EC PRIVATE KEY", []byte("garbage")), ErrMalformed, []string{"not a valid SEC1 EC private key"}},
		{"key with headers", chain, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Comment": "x"}, Bytes: must(x509.MarshalECPrivateKey(f.leafKey))})), ErrMalformed, []string{"headers"}},
		{"OpenSSH key", chain, pemBlock("OPENSSH PRIVATE KEY", []byte("openssh-key-v1")), ErrMalformed, []string{"unsupported private key type", `"OPENSSH PRIVATE KEY"`}},
		{"X25519 key", chain, pkcs8PEM(f.x25519Key), ErrMalformed, []string{"only RSA, ECDSA and Ed25519"}},
		{"CA first", pemOf(f.inter, f.root), pkcs8PEM(f.interKey), ErrMalformed, []string{"server certificate is a CA", "CN=Test Intermediate CA"}},
		{"reversed chain", pemOf(f.inter, f.leaf), key, ErrMalformed, []string{"server certificate is a CA"}},
		{"self-signed CA with chain", pemOf(f.selfSigned, f.root), sec1PEM(f.selfSignedKey), ErrMalformed, []string{"server certificate is a CA"}},
		{"missing intermediate", pemOf(f.leaf, f.root), key, ErrMalformed, []string{"certificate #2 (CN=Test Root CA,O=mtlsgate test) is not the issuer of certificate #1"}},
		{"unrelated certificate", pemOf(f.leaf, f.inter, f.rsaRoot), key, ErrMalformed, []string{"certificate #3", "not the issuer of certificate #2"}},
		{"other ECDSA key", chain, sec1PEM(f.otherECKey), ErrKeyMismatch, []string{"ECDSA P-256 private key", "certificate #1 (CN=www.example.com)"}},
		{"RSA key for ECDSA leaf", chain, pkcs1PEM(f.rsaLeafKey), ErrKeyMismatch, []string{"RSA-2048 private key", "ECDSA P-256 public key"}},
		{"ECDSA key for RSA leaf", pemOf(f.rsaLeaf), pkcs8, ErrKeyMismatch, []string{"RSA-2048 public key"}},
		{"Ed25519 key for ECDSA leaf", chain, pkcs8PEM(f.edLeafKey), ErrKeyMismatch, []string{"Ed25519 private key"}},
		{"issuer's key", chain, pkcs8PEM(f.interKey), ErrKeyMismatch, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, signer, err := ParseServerCertificate([]byte(tt.chain), []byte(tt.key))
			if certs != nil || signer != nil {
				t.Error("got results along with the error")
			}
			checkErr(t, err, tt.want, tt.fragments...)
		})
	}
}
