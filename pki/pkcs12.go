package pki

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Bounds of reading a PKCS#12 file (the file is the uploader's to shape).
const (
	// MaxPKCS12Bytes bounds the size of a PKCS#12 file; callers may apply
	// a smaller cap before calling.
	MaxPKCS12Bytes = 1 << 20
	// MaxPKCS12Iterations bounds every key-derivation iteration count,
	// checked before any derivation (OpenSSL writes 2048; 600,000 is the
	// highest in common use).
	MaxPKCS12Iterations = 1 << 20
	// maxP12Salt bounds a key-derivation salt, in bytes.
	maxP12Salt = 1024
	// maxP12Password bounds the password, in bytes.
	maxP12Password = 1024
	// maxP12Bags bounds the safe bags of a file, nested ones included.
	maxP12Bags = 64
	// maxP12Certs bounds the certificates of a file.
	maxP12Certs = 16
	// maxP12Depth bounds the nesting of SafeContents (1 is the top).
	maxP12Depth = 4
	// maxP12Contents bounds the ContentInfos of the AuthenticatedSafe.
	maxP12Contents = 64
	// maxP12Encrypted bounds the encryptedData ContentInfos: each costs
	// one key derivation (the rounds of all of them are bounded in sum
	// too: see p12Budget).
	maxP12Encrypted = 8
)

// ErrPKCS12Password: decrypting a PKCS#12 file's certificates with the
// given password failed (bad padding or undecodable plaintext): the
// password is wrong, or the file is corrupt.
var ErrPKCS12Password = errors.New("pki: incorrect PKCS#12 password")

// Object identifiers of PKCS#12 (RFC 7292) and PKCS#7/CMS (RFC 5652).
var (
	oidP12Data          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidP12EncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidP12Enveloped     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidP12X509Cert      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
)

// Safe bag types: the last arc under 1.2.840.113549.1.12.10.1.
const (
	bagKey           = 1
	bagShroudedKey   = 2
	bagCert          = 3
	bagCRL           = 4
	bagSecret        = 5
	bagSafeContents  = 6
	bagTypeArcPrefix = 9 // arcs before the bag number
)

// bagTypeArcs is the OID prefix of the safe bag types.
var bagTypeArcs = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1}

// PKCS12Certificates returns the certificates of a PKCS#12 (PFX) file's
// certificate bags (of type x509Certificate), in file order.
//
// It reads the certificates only: key bags and shrouded key bags are
// skipped without being decrypted, as are CRL and secret bags, so a
// hostile key-derivation cost hidden in a key bag costs nothing. The
// file's MAC is not verified, and its key derivation is never run: the
// uploader controls the whole file anyway (a verified MAC would prove
// nothing about who made it), and a wrong password still fails the
// decryption of encrypted certificates, with ErrPKCS12Password.
//
// Supported: PFX version 3 in DER or BER (see pkcs12BERToDER) whose
// authSafe is of type data; AuthenticatedSafe ContentInfos of type data
// (plaintext) and encryptedData with PBES2 (PBKDF2 with
// HMAC-SHA-1/224/256/384/512; AES-128/192/256-CBC or DES-EDE3-CBC; the
// password as UTF-8 bytes, like OpenSSL) or pbeWithSHAAnd3-KeyTripleDES-CBC
// / 2-KeyTripleDES-CBC (RFC 7292 Appendix B derivation, the password as a
// BMPString); nested safeContentsBag up to 4 deep. Refused: RC2 and RC4
// encryption (with a hint), public-key (envelopedData) privacy mode, and
// anything above the bounds: MaxPKCS12Bytes of input, MaxPKCS12Iterations
// per derivation (checked before deriving), 1 KiB of salt or password,
// 64 bags, 16 certificates, 8 encryptedData items, and 4 ×
// MaxPKCS12Iterations hash rounds for all derivations together (one
// derivation of 3DES key and IV at the highest count takes 3 ×). The
// work is linear in the input plus those rounds (at most a couple of
// seconds of one core).
//
// Errors wrap ErrEmpty (no certificate), ErrPKCS12Password, or
// ErrMalformed naming what is wrong.
func PKCS12Certificates(data []byte, password string) ([]*x509.Certificate, error) {
	if len(data) == 0 {
		return nil, errorf(ErrEmpty, "empty PKCS#12 file")
	}
	if len(data) > MaxPKCS12Bytes {
		return nil, errorf(ErrMalformed, "PKCS#12 file is %d bytes, more than %d", len(data), MaxPKCS12Bytes)
	}
	if len(password) > maxP12Password {
		return nil, errorf(ErrMalformed, "PKCS#12 password is longer than %d bytes", maxP12Password)
	}
	der, err := pkcs12BERToDER(data, "file")
	if err != nil {
		return nil, err
	}
	authSafe, err := readPFX(der)
	if err != nil {
		return nil, err
	}
	w := &p12Walker{password: password, budget: newP12Budget()}
	if err := w.authenticatedSafe(authSafe); err != nil {
		return nil, err
	}
	if len(w.certs) == 0 {
		return nil, errorf(ErrEmpty, "PKCS#12 file holds no certificate")
	}
	return w.certs, nil
}

// PKCS12Leaf returns "the" certificate of a PKCS#12 file: the single one
// of certs that is not a CA (basicConstraints CA:TRUE). Its error names
// how many non-CA certificates there are when not exactly one.
func PKCS12Leaf(certs []*x509.Certificate) (*x509.Certificate, error) {
	var leaf *x509.Certificate
	n := 0
	for _, c := range certs {
		if c.BasicConstraintsValid && c.IsCA {
			continue
		}
		leaf = c
		n++
	}
	switch {
	case len(certs) == 0:
		return nil, errorf(ErrEmpty, "PKCS#12 file holds no certificate")
	case n != 1:
		return nil, errorf(ErrMalformed, "PKCS#12 file holds %d certificates that are not CAs, want exactly one", n)
	}
	return leaf, nil
}

// readPFX reads PFX ::= SEQUENCE { version 3, authSafe ContentInfo,
// macData OPTIONAL } and returns the content of authSafe (type data).
func readPFX(s cryptobyte.String) (cryptobyte.String, error) {
	var pfx, authSafe cryptobyte.String
	var version int64
	if !s.ReadASN1(&pfx, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, errorf(ErrMalformed, "PKCS#12: not a DER SEQUENCE, or trailing data after it")
	}
	if !pfx.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) {
		return nil, errorf(ErrMalformed, "PKCS#12: version is not an INTEGER")
	}
	if version != 3 {
		return nil, errorf(ErrMalformed, "PKCS#12: version is %d, want 3", version)
	}
	if !pfx.ReadASN1(&authSafe, cbasn1.SEQUENCE) {
		return nil, errorf(ErrMalformed, "PKCS#12: authSafe is not a ContentInfo")
	}
	// macData is not read (see PKCS12Certificates): at most one element.
	if !pfx.Empty() && (!pfx.SkipASN1(cbasn1.SEQUENCE) || !pfx.Empty()) {
		return nil, errorf(ErrMalformed, "PKCS#12: unexpected data after authSafe")
	}
	typ, content, err := readContentInfo(authSafe, "authSafe")
	if err != nil {
		return nil, err
	}
	if !typ.Equal(oidP12Data) {
		return nil, errorf(ErrMalformed, "PKCS#12: authSafe has content type %s, want data (public-key integrity mode is not supported)", typ)
	}
	return readDataContent(content, "authSafe")
}

// readContentInfo reads the body of ContentInfo ::= SEQUENCE {
// contentType OID, content [0] EXPLICIT ANY } and returns the type and
// the inside of [0].
func readContentInfo(ci cryptobyte.String, field string) (asn1.ObjectIdentifier, cryptobyte.String, error) {
	var typ asn1.ObjectIdentifier
	var content cryptobyte.String
	if !ci.ReadASN1ObjectIdentifier(&typ) {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s content type is not an OID", field)
	}
	if !ci.ReadASN1(&content, cbasn1.Tag(0).Constructed().ContextSpecific()) || !ci.Empty() {
		return nil, nil, errorf(ErrMalformed, "PKCS#12: %s has no [0] content, or trailing data", field)
	}
	return typ, content, nil
}

// readDataContent reads the OCTET STRING of a data ContentInfo.
func readDataContent(content cryptobyte.String, field string) (cryptobyte.String, error) {
	var octets cryptobyte.String
	if !content.ReadASN1(&octets, cbasn1.OCTET_STRING) || !content.Empty() {
		return nil, errorf(ErrMalformed, "PKCS#12: %s data is not a DER OCTET STRING", field)
	}
	return octets, nil
}

// p12Walker collects certificates while walking a file's bags.
type p12Walker struct {
	password string
	certs    []*x509.Certificate
	bags     int
	budget   p12Budget
}

// authenticatedSafe walks AuthenticatedSafe ::= SEQUENCE OF ContentInfo.
func (w *p12Walker) authenticatedSafe(s cryptobyte.String) error {
	s, err := pkcs12BERToDER(s, "AuthenticatedSafe")
	if err != nil {
		return err
	}
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return errorf(ErrMalformed, "PKCS#12: AuthenticatedSafe is not a DER SEQUENCE")
	}
	encrypted := 0
	for i := 1; !seq.Empty(); i++ {
		field := "AuthenticatedSafe item #" + strconv.Itoa(i)
		if i > maxP12Contents {
			return errorf(ErrMalformed, "PKCS#12: AuthenticatedSafe has more than %d items", maxP12Contents)
		}
		var ci cryptobyte.String
		if !seq.ReadASN1(&ci, cbasn1.SEQUENCE) {
			return errorf(ErrMalformed, "PKCS#12: %s is not a ContentInfo", field)
		}
		typ, content, err := readContentInfo(ci, field)
		if err != nil {
			return err
		}
		var safe cryptobyte.String
		switch {
		case typ.Equal(oidP12Data):
			safe, err = readDataContent(content, field)
		case typ.Equal(oidP12EncryptedData):
			if encrypted++; encrypted > maxP12Encrypted {
				return errorf(ErrMalformed, "PKCS#12: more than %d encryptedData items", maxP12Encrypted)
			}
			safe, err = decryptEncryptedData(content, w.password, &w.budget, field)
		case typ.Equal(oidP12Enveloped):
			err = errorf(ErrMalformed, "PKCS#12: %s uses public-key privacy mode (envelopedData), not supported", field)
		default:
			err = errorf(ErrMalformed, "PKCS#12: %s has unsupported content type %s", field, typ)
		}
		if err != nil {
			return err
		}
		if err := w.safeContents(safe, 1, field, typ.Equal(oidP12EncryptedData)); err != nil {
			return err
		}
	}
	return nil
}

// safeContents walks SafeContents ::= SEQUENCE OF SafeBag at depth.
// decrypted marks plaintext just decrypted: if it is not even a
// SEQUENCE, the password was most likely wrong.
func (w *p12Walker) safeContents(s cryptobyte.String, depth int, field string, decrypted bool) error {
	if depth > maxP12Depth {
		return errorf(ErrMalformed, "PKCS#12: %s: safe contents nested more than %d deep", field, maxP12Depth)
	}
	if depth == 1 { // the bytes of an OCTET STRING, or decrypted
		der, err := pkcs12BERToDER(s, field)
		if err != nil && decrypted {
			return errorf(ErrPKCS12Password, "%s: decrypted content is not SafeContents (wrong password, or a corrupt file)", field)
		}
		if err != nil {
			return err
		}
		s = der
	}
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		if decrypted {
			return errorf(ErrPKCS12Password, "%s: decrypted content is not SafeContents (wrong password, or a corrupt file)", field)
		}
		return errorf(ErrMalformed, "PKCS#12: %s: SafeContents is not a DER SEQUENCE", field)
	}
	for i := 1; !seq.Empty(); i++ {
		if w.bags++; w.bags > maxP12Bags {
			return errorf(ErrMalformed, "PKCS#12: more than %d safe bags", maxP12Bags)
		}
		if err := w.safeBag(&seq, depth, field+", bag #"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
}

// safeBag reads one SafeBag ::= SEQUENCE { bagId OID, bagValue [0]
// EXPLICIT ANY, bagAttributes SET OF OPTIONAL } from seq.
func (w *p12Walker) safeBag(seq *cryptobyte.String, depth int, field string) error {
	var bag, value cryptobyte.String
	var id asn1.ObjectIdentifier
	if !seq.ReadASN1(&bag, cbasn1.SEQUENCE) || !bag.ReadASN1ObjectIdentifier(&id) ||
		!bag.ReadASN1(&value, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return errorf(ErrMalformed, "PKCS#12: %s is not a SafeBag", field)
	}
	if !bag.Empty() && (!bag.SkipASN1(cbasn1.SET) || !bag.Empty()) {
		return errorf(ErrMalformed, "PKCS#12: %s has unexpected data after its value", field)
	}
	kind := 0
	if len(id) == bagTypeArcPrefix && id[:len(bagTypeArcs)].Equal(bagTypeArcs) {
		kind = id[len(bagTypeArcs)]
	}
	switch kind {
	case bagKey, bagShroudedKey, bagCRL, bagSecret:
		return nil // never decrypted nor parsed
	case bagCert:
		return w.certBag(value, field)
	case bagSafeContents:
		return w.safeContents(value, depth+1, field, false)
	}
	return errorf(ErrMalformed, "PKCS#12: %s has unknown bag type %s", field, id)
}

// certBag reads CertBag ::= SEQUENCE { certId OID, certValue [0]
// EXPLICIT ANY }; an x509Certificate (an OCTET STRING of DER) is
// collected, other certificate types (SDSI) are skipped.
func (w *p12Walker) certBag(value cryptobyte.String, field string) error {
	var bag, cv, der cryptobyte.String
	var id asn1.ObjectIdentifier
	if !value.ReadASN1(&bag, cbasn1.SEQUENCE) || !value.Empty() || !bag.ReadASN1ObjectIdentifier(&id) ||
		!bag.ReadASN1(&cv, cbasn1.Tag(0).Constructed().ContextSpecific()) || !bag.Empty() {
		return errorf(ErrMalformed, "PKCS#12: %s is not a CertBag", field)
	}
	if !id.Equal(oidP12X509Cert) {
		return nil
	}
	if !cv.ReadASN1(&der, cbasn1.OCTET_STRING) || !cv.Empty() {
		return errorf(ErrMalformed, "PKCS#12: %s: x509Certificate is not an OCTET STRING", field)
	}
	if len(w.certs) == maxP12Certs {
		return errorf(ErrMalformed, "PKCS#12: more than %d certificates", maxP12Certs)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return errorf(ErrMalformed, "PKCS#12: %s: certificate: %v", field, err)
	}
	w.certs = append(w.certs, c)
	return nil
}
