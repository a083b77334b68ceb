package pki

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"hash"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Encryption algorithm identifiers (RFC 8018, RFC 7292 Appendix C).
var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	// oidP12PBE is the prefix of pkcs-12PbeIds; the next arc picks the
	// cipher: 1, 2 RC4; 3 3-key 3DES; 4 2-key 3DES; 5, 6 RC2.
	oidP12PBE = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}
)

// hmacPRFs maps the last arc of an hmacWithSHA* OID (1.2.840.113549.2.x)
// to its hash.
var hmacPRFs = map[int]func() hash.Hash{
	7: sha1.New, 8: sha256.New224, 9: sha256.New, 10: sha512.New384, 11: sha512.New,
}

// oidHMACPrefix is the prefix of the hmacWithSHA* OIDs.
var oidHMACPrefix = asn1.ObjectIdentifier{1, 2, 840, 113549, 2}

// legacyHint is how a file with RC2 or RC4 encryption can be remade.
const legacyHint = "the file uses a legacy RC2/RC4 encryption, which is not supported: " +
	"re-export it with `openssl pkcs12 -export -certpbe AES-256-CBC ...`, or upload the certificate as PEM"

// decryptEncryptedData reads EncryptedData ::= SEQUENCE { version,
// EncryptedContentInfo ::= SEQUENCE { contentType, algorithm,
// encryptedContent [0] IMPLICIT OCTET STRING }, unprotectedAttrs [1]
// OPTIONAL } from content and returns the decrypted SafeContents DER.
func decryptEncryptedData(content cryptobyte.String, password string, budget *p12Budget, field string) (cryptobyte.String, error) {
	var ed, eci, alg cryptobyte.String
	var version int64
	var typ asn1.ObjectIdentifier
	if !content.ReadASN1(&ed, cbasn1.SEQUENCE) || !content.Empty() ||
		!ed.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || !ed.ReadASN1(&eci, cbasn1.SEQUENCE) {
		return nil, errorf(ErrMalformed, "PKCS#12: %s is not an EncryptedData", field)
	}
	if !ed.Empty() && (!ed.SkipASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) || !ed.Empty()) {
		return nil, errorf(ErrMalformed, "PKCS#12: %s has unexpected data after its content", field)
	}
	if !eci.ReadASN1ObjectIdentifier(&typ) || !eci.ReadASN1(&alg, cbasn1.SEQUENCE) {
		return nil, errorf(ErrMalformed, "PKCS#12: %s is not an EncryptedContentInfo", field)
	}
	if !typ.Equal(oidP12Data) {
		return nil, errorf(ErrMalformed, "PKCS#12: %s encrypts content type %s, want data", field, typ)
	}
	ciphertext, ok := readEncryptedContent(eci)
	if !ok {
		return nil, errorf(ErrMalformed, "PKCS#12: %s has no [0] encrypted content, or trailing data", field)
	}
	block, iv, err := p12Cipher(alg, password, budget, field)
	if err != nil {
		return nil, err
	}
	return cbcDecrypt(block, iv, ciphertext, field)
}

// readEncryptedContent reads the [0] IMPLICIT OCTET STRING, primitive or
// (as some BER writers leave it) constructed of definite-length pieces.
func readEncryptedContent(eci cryptobyte.String) ([]byte, bool) {
	var body cryptobyte.String
	if eci.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()) { // (a failed Read consumes)
		ok := eci.ReadASN1(&body, cbasn1.Tag(0).ContextSpecific()) && eci.Empty()
		return body, ok
	}
	if !eci.ReadASN1(&body, cbasn1.Tag(0).Constructed().ContextSpecific()) || !eci.Empty() {
		return nil, false
	}
	var out []byte
	for !body.Empty() {
		var piece cryptobyte.String
		if !body.ReadASN1(&piece, cbasn1.OCTET_STRING) {
			return nil, false
		}
		out = append(out, piece...)
	}
	return out, true
}

// p12Cipher reads AlgorithmIdentifier alg, checks its parameters
// against the bounds, then derives the key and returns the cipher and IV.
func p12Cipher(alg cryptobyte.String, password string, budget *p12Budget, field string) (cipher.Block, []byte, error) {
	var oid asn1.ObjectIdentifier
	if !alg.ReadASN1ObjectIdentifier(&oid) {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: encryption algorithm is not an OID", field)
	}
	switch {
	case oid.Equal(oidPBES2):
		return pbes2Cipher(alg, password, budget, field)
	case len(oid) == len(oidP12PBE)+1 && oid[:len(oidP12PBE)].Equal(oidP12PBE):
		switch oid[len(oidP12PBE)] {
		case 1, 2, 5, 6:
			return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: %s", field, legacyHint)
		case 3, 4:
			return legacyCipher(alg, password, oid[len(oidP12PBE)] == 3, budget, field)
		}
	}
	return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: unsupported encryption algorithm %s", field, oid)
}

// pbes2Cipher reads PBES2-params ::= SEQUENCE { keyDerivationFunc,
// encryptionScheme } and derives the key with PBKDF2.
func pbes2Cipher(params cryptobyte.String, password string, budget *p12Budget, field string) (cipher.Block, []byte, error) {
	var seq, kdf, enc, kdfParams cryptobyte.String
	var kdfOID, encOID asn1.ObjectIdentifier
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() ||
		!seq.ReadASN1(&kdf, cbasn1.SEQUENCE) || !seq.ReadASN1(&enc, cbasn1.SEQUENCE) || !seq.Empty() ||
		!kdf.ReadASN1ObjectIdentifier(&kdfOID) || !enc.ReadASN1ObjectIdentifier(&encOID) {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: PBES2 parameters are malformed", field)
	}
	if !kdfOID.Equal(oidPBKDF2) {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: PBES2 key derivation %s is not PBKDF2", field, kdfOID)
	}
	keyLen, newCipher, err := pbes2Scheme(encOID, field)
	if err != nil {
		return nil, nil, err
	}
	ivLen := aes.BlockSize
	if encOID.Equal(oidDESEDE3CBC) {
		ivLen = des.BlockSize
	}
	var iv cryptobyte.String
	if !enc.ReadASN1(&iv, cbasn1.OCTET_STRING) || !enc.Empty() {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: PBES2 IV is not an OCTET STRING", field)
	}
	if len(iv) != ivLen {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: IV is %d bytes, want %d", field, len(iv), ivLen)
	}
	if !kdf.ReadASN1(&kdfParams, cbasn1.SEQUENCE) || !kdf.Empty() {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: PBKDF2 parameters are not a SEQUENCE", field)
	}
	salt, iter, prf, err := pbkdf2Params(kdfParams, keyLen, field)
	if err != nil {
		return nil, nil, err
	}
	if err := budget.spend(iter*blocksOf(keyLen, prf().Size()), field); err != nil {
		return nil, nil, err
	}
	key, err := pbkdf2.Key(prf, password, salt, iter, keyLen)
	if err != nil {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: PBKDF2: %v", field, err)
	}
	block, err := newCipher(key)
	if err != nil {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: cipher: %v", field, err)
	}
	return block, iv, nil
}

// pbes2Scheme returns the key length and constructor of a PBES2
// encryption scheme.
func pbes2Scheme(oid asn1.ObjectIdentifier, field string) (int, func([]byte) (cipher.Block, error), error) {
	switch {
	case oid.Equal(oidAES128CBC):
		return 16, aes.NewCipher, nil
	case oid.Equal(oidAES192CBC):
		return 24, aes.NewCipher, nil
	case oid.Equal(oidAES256CBC):
		return 32, aes.NewCipher, nil
	case oid.Equal(oidDESEDE3CBC):
		return 24, des.NewTripleDESCipher, nil
	}
	return 0, nil, errorf(ErrMalformed, "PKCS#12: %s: unsupported PBES2 encryption scheme %s (%s)", field, oid,
		"AES-CBC and DES-EDE3-CBC are supported")
}

// pbkdf2Params reads PBKDF2-params ::= SEQUENCE { salt OCTET STRING,
// iterationCount, keyLength OPTIONAL, prf DEFAULT hmacWithSHA1 },
// checking every bound before any derivation.
func pbkdf2Params(s cryptobyte.String, keyLen int, field string) ([]byte, int, func() hash.Hash, error) {
	var salt cryptobyte.String
	if !s.ReadASN1(&salt, cbasn1.OCTET_STRING) {
		return nil, 0, nil, errorf(ErrMalformed, "PKCS#12: %s: PBKDF2 salt is not an OCTET STRING (other sources are not supported)", field)
	}
	if len(salt) > maxP12Salt {
		return nil, 0, nil, errorf(ErrMalformed, "PKCS#12: %s: PBKDF2 salt is %d bytes, more than %d", field, len(salt), maxP12Salt)
	}
	iter, err := readCount(&s, "PBKDF2 iteration count", p12IterLimit, field)
	if err != nil {
		return nil, 0, nil, err
	}
	if s.PeekASN1Tag(cbasn1.INTEGER) {
		n, err := readCount(&s, "PBKDF2 key length", 64, field)
		if err != nil {
			return nil, 0, nil, err
		}
		if n != keyLen {
			return nil, 0, nil, errorf(ErrMalformed, "PKCS#12: %s: PBKDF2 key length is %d, the cipher needs %d", field, n, keyLen)
		}
	}
	prf := sha1.New
	if !s.Empty() {
		var alg cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !s.ReadASN1(&alg, cbasn1.SEQUENCE) || !s.Empty() || !alg.ReadASN1ObjectIdentifier(&oid) ||
			(!alg.Empty() && (!alg.SkipASN1(cbasn1.NULL) || !alg.Empty())) {
			return nil, 0, nil, errorf(ErrMalformed, "PKCS#12: %s: PBKDF2 PRF is malformed", field)
		}
		var h func() hash.Hash
		if len(oid) == len(oidHMACPrefix)+1 && oid[:len(oidHMACPrefix)].Equal(oidHMACPrefix) {
			h = hmacPRFs[oid[len(oidHMACPrefix)]]
		}
		if h == nil {
			return nil, 0, nil, errorf(ErrMalformed, "PKCS#12: %s: unsupported PBKDF2 PRF %s", field, oid)
		}
		prf = h
	}
	return salt, iter, prf, nil
}

// readCount reads a positive INTEGER of at most limit from s, refusing a
// larger one without converting it (it may be any length).
func readCount(s *cryptobyte.String, what string, limit int, field string) (int, error) {
	var b cryptobyte.String
	if !s.ReadASN1(&b, cbasn1.INTEGER) || len(b) == 0 {
		return 0, errorf(ErrMalformed, "PKCS#12: %s: %s is not an INTEGER", field, what)
	}
	if b[0]&0x80 != 0 {
		return 0, errorf(ErrMalformed, "PKCS#12: %s: %s is negative", field, what)
	}
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	n := 0
	if len(b) <= 4 {
		for _, c := range b {
			n = n<<8 | int(c)
		}
	}
	if len(b) > 4 || n > limit {
		return 0, errorf(ErrMalformed, "PKCS#12: %s: %s is above %d", field, what, limit)
	}
	if n == 0 {
		return 0, errorf(ErrMalformed, "PKCS#12: %s: %s is 0", field, what)
	}
	return n, nil
}

// legacyCipher reads pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING,
// iterations INTEGER } and derives a triple-DES key and IV with the RFC
// 7292 Appendix B function (3-key, or 2-key as K1 K2 K1).
func legacyCipher(params cryptobyte.String, password string, threeKey bool, budget *p12Budget, field string) (cipher.Block, []byte, error) {
	var seq, salt cryptobyte.String
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() || !seq.ReadASN1(&salt, cbasn1.OCTET_STRING) {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: PBE parameters are malformed", field)
	}
	if len(salt) > maxP12Salt {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: PBE salt is %d bytes, more than %d", field, len(salt), maxP12Salt)
	}
	iter, err := readCount(&seq, "PBE iteration count", p12IterLimit, field)
	if err != nil {
		return nil, nil, err
	}
	if !seq.Empty() {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: unexpected data after the PBE iteration count", field)
	}
	keyLen := 16
	if threeKey {
		keyLen = 24
	}
	// The key and the IV are derived apart, each in 20-byte blocks.
	if err := budget.spend(iter*(blocksOf(keyLen, sha1.Size)+1), field); err != nil {
		return nil, nil, err
	}
	pw := bmpPassword(password)
	key := p12KDF(pw, salt, 1, iter, keyLen)
	if !threeKey {
		key = append(key, key[:8]...)
	}
	block, err := des.NewTripleDESCipher(key)
	if err != nil {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s: cipher: %v", field, err)
	}
	return block, p12KDF(pw, salt, 2, iter, des.BlockSize), nil
}

// cbcDecrypt decrypts ciphertext, then checks and strips its PKCS#7
// padding: a bad padding means a wrong password.
func cbcDecrypt(block cipher.Block, iv, ciphertext []byte, field string) (cryptobyte.String, error) {
	bs := block.BlockSize()
	if len(ciphertext) == 0 || len(ciphertext)%bs != 0 {
		return nil, errorf(ErrMalformed, "PKCS#12: %s: encrypted content is %d bytes, not a positive multiple of %d", field, len(ciphertext), bs)
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ciphertext)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > bs {
		return nil, errorf(ErrPKCS12Password, "%s: bad padding after decryption (wrong password, or a corrupt file)", field)
	}
	for _, c := range plain[len(plain)-pad:] {
		if int(c) != pad {
			return nil, errorf(ErrPKCS12Password, "%s: bad padding after decryption (wrong password, or a corrupt file)", field)
		}
	}
	return plain[:len(plain)-pad], nil
}
