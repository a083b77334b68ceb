package pki

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"hash"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// This file is a small PKCS#12 encoder for tests: it builds the shapes
// real encoders do not (hostile counts, nesting, odd parameters).

// p12Build writes one ASN.1 element.
type p12Build func(*cryptobyte.Builder)

// explicit0 is the [0] EXPLICIT (constructed, context-specific) tag.
var explicit0 = cbasn1.Tag(0).Constructed().ContextSpecific()

// bagOID returns the safe bag type OID with the last arc n.
func bagOID(n int) asn1.ObjectIdentifier {
	return append(append(asn1.ObjectIdentifier{}, bagTypeArcs...), n)
}

// safeBag builds a SafeBag of type n with value.
func safeBag(n int, value p12Build) p12Build {
	return func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(bagOID(n))
			b.AddASN1(explicit0, cryptobyte.BuilderContinuation(value))
		})
	}
}

// certBagOf builds a certBag holding der as an x509Certificate.
func certBagOf(der []byte) p12Build {
	return safeBag(bagCert, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidP12X509Cert)
			b.AddASN1(explicit0, func(b *cryptobyte.Builder) { b.AddASN1OctetString(der) })
		})
	})
}

// shroudedKeyBag builds a pkcs8ShroudedKeyBag encrypted (in name only:
// its bytes are random) with PBES2 and the given parameters.
func shroudedKeyBag(p testPBES2) p12Build {
	return safeBag(bagShroudedKey, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			p.algorithm(b, make([]byte, 16))
			b.AddASN1OctetString(must(randomBytes(48)))
		})
	})
}

// nestedBag builds a safeContentsBag holding bags.
func nestedBag(bags ...p12Build) p12Build {
	return safeBag(bagSafeContents, func(b *cryptobyte.Builder) { b.AddBytes(safeContentsDER(bags...)) })
}

// safeContentsDER encodes SafeContents of bags.
func safeContentsDER(bags ...p12Build) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, bag := range bags {
			bag(b)
		}
	})
	return b.BytesOrPanic()
}

// contentInfo builds a ContentInfo of typ holding content.
func contentInfo(typ asn1.ObjectIdentifier, content p12Build) p12Build {
	return func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(typ)
			b.AddASN1(explicit0, cryptobyte.BuilderContinuation(content))
		})
	}
}

// dataContent builds a data ContentInfo of der.
func dataContent(der []byte) p12Build {
	return contentInfo(oidP12Data, func(b *cryptobyte.Builder) { b.AddASN1OctetString(der) })
}

// encryptedContent builds an encryptedData ContentInfo of der encrypted
// with p and password (with random bytes when p's count is above the
// bound: the reader must refuse it before deriving).
func encryptedContent(der []byte, p testPBES2, password string) p12Build {
	return contentInfo(oidP12EncryptedData, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(0)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidP12Data)
				iv, ct := p.encrypt(der, password)
				p.algorithm(b, iv)
				b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ct) })
			})
		})
	})
}

// pfxOf encodes a PFX whose AuthenticatedSafe holds contents, with a
// MacData of zeros (never verified).
func pfxOf(contents ...p12Build) []byte {
	auth := cryptobyte.NewBuilder(nil)
	auth.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, c := range contents {
			c(b)
		}
	})
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(3)
		dataContent(auth.BytesOrPanic())(b)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1})
				})
				b.AddASN1OctetString(make([]byte, 32))
			})
			b.AddASN1OctetString(make([]byte, 8))
			b.AddASN1Int64(2048)
		})
	})
	return b.BytesOrPanic()
}

// testPBES2 are the PBES2 parameters of the test encoder.
type testPBES2 struct {
	iter   int64                 // iteration count (may be above the bound)
	prf    asn1.ObjectIdentifier // nil: absent (HMAC-SHA-1)
	enc    asn1.ObjectIdentifier // nil: AES-256-CBC
	keyLen int64                 // the keyLength field; 0: absent
	salt   []byte                // nil: 8 random bytes
}

// modernPBES2 is what OpenSSL 3 writes by default.
var modernPBES2 = testPBES2{iter: 2048, prf: asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}}

// scheme returns p's cipher OID, key length and constructor.
func (p testPBES2) scheme() (asn1.ObjectIdentifier, int, func([]byte) (cipher.Block, error)) {
	switch {
	case p.enc == nil || p.enc.Equal(oidAES256CBC):
		return oidAES256CBC, 32, aes.NewCipher
	case p.enc.Equal(oidAES128CBC):
		return p.enc, 16, aes.NewCipher
	case p.enc.Equal(oidAES192CBC):
		return p.enc, 24, aes.NewCipher
	}
	return p.enc, 24, des.NewTripleDESCipher
}

// algorithm writes p's AlgorithmIdentifier with iv.
func (p testPBES2) algorithm(b *cryptobyte.Builder, iv []byte) {
	if p.salt == nil {
		p.salt = make([]byte, 8)
	}
	enc, _, _ := p.scheme()
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidPBES2)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidPBKDF2)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1OctetString(p.salt)
					b.AddASN1Int64(p.iter)
					if p.keyLen != 0 {
						b.AddASN1Int64(p.keyLen)
					}
					if p.prf != nil {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(p.prf)
							b.AddASN1NULL()
						})
					}
				})
			})
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(enc)
				b.AddASN1OctetString(iv)
			})
		})
	})
}

// encrypt returns an IV and plain encrypted with p and password.
func (p testPBES2) encrypt(plain []byte, password string) ([]byte, []byte) {
	_, keyLen, newCipher := p.scheme()
	if p.iter < 1 || p.iter > MaxPKCS12Iterations {
		return make([]byte, 16), must(randomBytes(32))
	}
	prf := map[string]func() hash.Hash{"": sha1.New, "1.2.840.113549.2.9": sha256.New, "1.2.840.113549.2.11": sha512.New}[oidString(p.prf)]
	salt := p.salt
	if salt == nil {
		salt = make([]byte, 8)
	}
	block := must(newCipher(must(pbkdf2.Key(prf, password, salt, int(p.iter), keyLen))))
	bs := block.BlockSize()
	iv := must(randomBytes(bs))
	pad := bs - len(plain)%bs
	padded := append([]byte{}, plain...)
	for range pad {
		padded = append(padded, byte(pad))
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(padded, padded)
	return iv, padded
}

// oidString is oid's dotted form, "" for nil.
func oidString(oid asn1.ObjectIdentifier) string {
	if oid == nil {
		return ""
	}
	return oid.String()
}

// randomBytes returns n random bytes.
func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := rand.Read(b)
	return b, err
}

// repeatContent returns n copies of e.
func repeatContent(e p12Build, n int) []p12Build {
	out := make([]p12Build, n)
	for i := range out {
		out[i] = e
	}
	return out
}

// encryptedWith builds an encryptedData ContentInfo whose algorithm is
// oid with pkcs-12PbeParams (salt, count 1) and 16 random bytes.
func encryptedWith(oid asn1.ObjectIdentifier) p12Build {
	return contentInfo(oidP12EncryptedData, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(0)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidP12Data)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oid)
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(make([]byte, 8))
						b.AddASN1Int64(1)
					})
				})
				b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(must(randomBytes(16))) })
			})
		})
	})
}

// berify re-encodes DER as BER the way loose writers do: constructed
// elements with indefinite lengths, primitive ones with non-minimal
// lengths, long OCTET STRINGs and [0] IMPLICIT contents cut into
// constructed pieces; the ASN.1 inside OCTET STRINGs is berified too,
// certificates excepted (they stay DER, as every writer leaves them).
func berify(der []byte) []byte {
	var out []byte
	s := cryptobyte.String(der)
	for !s.Empty() {
		var body cryptobyte.String
		var tag cbasn1.Tag
		if !s.ReadAnyASN1(&body, &tag) {
			panic("berify: not DER")
		}
		inner := []byte(body)
		if tag == cbasn1.OCTET_STRING && holdsASN1(body) {
			inner = berify(body)
		}
		switch {
		case tag&0x20 != 0:
			out = append(append(append(out, byte(tag), 0x80), berify(body)...), 0, 0)
		case (tag == cbasn1.OCTET_STRING || tag == 0x80) && len(inner) > 8:
			out = append(out, byte(tag)|0x20, 0x80)
			for len(inner) > 0 {
				n := min(len(inner), 100)
				out = append(append(out, 0x04, 0x82, byte(n>>8), byte(n)), inner[:n]...)
				inner = inner[n:]
			}
			out = append(out, 0, 0)
		default:
			out = append(append(out, byte(tag), 0x82, byte(len(inner)>>8), byte(len(inner))), inner...)
		}
	}
	return out
}

// holdsASN1 reports whether b is one SEQUENCE that is not a certificate.
func holdsASN1(b []byte) bool {
	s := cryptobyte.String(b)
	if !s.SkipASN1(cbasn1.SEQUENCE) || !s.Empty() {
		return false
	}
	_, err := x509.ParseCertificate(b)
	return err != nil
}
