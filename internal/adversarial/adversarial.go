// Package adversarial builds hostile inputs for mtlsgate's parsers, of a
// requested size, so that tests and benchmarks can show that parsing takes
// time (and memory) linear in the input. It is shared by the pki and
// pki/crlset benchmarks and by the parsers part of mtlsgate-bench.
//
// Every generator returns exactly size bytes (padding with harmless
// whitespace or repeating its unit) and is deterministic for a given size,
// except the CRLs, whose signatures use a fresh key.
package adversarial

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"time"
)

// Sizes are the input sizes of the linearity measurement: 64 KiB to 4 MiB.
var Sizes = []int{64 << 10, 256 << 10, 1 << 20, 4 << 20}

// Input is one hostile input.
type Input struct {
	Name string // short, stable: used in benchmark and report names
	Data []byte
}

// repeat returns unit repeated to exactly size bytes (the last copy cut).
func repeat(unit string, size int) []byte {
	b := bytes.Repeat([]byte(unit), size/len(unit)+1)
	return b[:size]
}

// pad returns head followed by tail, with newlines between them so that the
// total is size bytes (head and tail as given when they do not fit).
func pad(head, tail []byte, size int) []byte {
	n := max(size-len(head)-len(tail), 0)
	out := make([]byte, 0, len(head)+n+len(tail))
	out = append(out, head...)
	out = append(out, bytes.Repeat([]byte{'\n'}, n)...)
	return append(out, tail...)
}

// PEM returns the hostile PEM shapes, each of size bytes. None of them is a
// valid upload; what matters is how long a parser takes to say so.
//   - begin-one-line: "-----BEGIN X" repeated on a single line;
//   - begin-lines: BEGIN lines without any END line;
//   - begin-nested: BEGIN lines, each unterminated, then one END line;
//   - end-after-text: text lines, then an END line (no BEGIN);
//   - huge-base64: one CERTIFICATE block whose body is size bytes of base64;
//   - tiny-blocks: empty CERTIFICATE blocks back to back;
//   - header-lines: one block whose BEGIN line is followed by header lines;
//   - key-late: text lines, then a private key's BEGIN line at the end.
func PEM(size int) []Input {
	const begin = "-----BEGIN CERTIFICATE-----\n"
	const end = "-----END CERTIFICATE-----\n"
	b64 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, size))
	var body strings.Builder
	for len(b64) > 0 && body.Len() < size {
		n := min(64, len(b64))
		body.WriteString(b64[:n])
		body.WriteByte('\n')
		b64 = b64[n:]
	}
	huge := begin + body.String()
	huge = huge[:max(size-len(end), len(begin))]
	huge = huge[:strings.LastIndexByte(huge, '\n')+1]
	return []Input{
		{"begin-one-line", repeat("-----BEGIN X", size)},
		{"begin-lines", repeat(begin, size)},
		{"begin-nested", pad(repeat(begin, max(size-len(end), 0))[:max(size-len(end), 0)/len(begin)*len(begin)], []byte(end), size)},
		{"end-after-text", pad(repeat("subject=CN = example\n", size-len(end))[:(size-len(end))/21*21], []byte(end), size)},
		{"huge-base64", pad([]byte(huge), []byte(end), size)},
		{"tiny-blocks", repeat(begin+end, size)},
		{"header-lines", pad(append([]byte(begin), repeat("Proc-Type: 4,ENCRYPTED\n", size-len(begin)-len(end))[:(size-len(begin)-len(end))/23*23]...), []byte(end), size)},
		{"key-late", pad(repeat("subject=CN = example\n", size)[:(size-40)/21*21], []byte("-----BEGIN PRIVATE KEY-----\n"), size)},
	}
}

// NestedDER returns size bytes of DER SEQUENCEs nested as deep as they go,
// each with a four-octet length claiming the rest of the input.
func NestedDER(size int) []byte {
	out := make([]byte, 0, size)
	for len(out)+6 <= size {
		n := size - len(out) - 6
		out = append(out, 0x30, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, make([]byte, size-len(out))...)
}

// CRLs returns hostile but valid CRLs of about size bytes (DER, within a
// few hundred bytes of size) and the CA that signed them:
//   - crl-entries: distinct serials;
//   - crl-same-serial: one serial listed again and again;
//
// and the first again, PEM-encoded, as crl-pem.
func CRLs(size int) ([]Input, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "adversarial CRL issuer"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	// An entry with a 4-octet serial and a UTCTime is 23 bytes of DER.
	const entrySize = 23
	n := max((size-300)/entrySize, 1)
	distinct := make([]x509.RevocationListEntry, n)
	same := make([]x509.RevocationListEntry, n)
	for i := range distinct {
		distinct[i] = x509.RevocationListEntry{SerialNumber: big.NewInt(int64(1<<24 + i)), RevocationTime: now}
		same[i] = x509.RevocationListEntry{SerialNumber: big.NewInt(1 << 24), RevocationTime: now}
	}
	var out []Input
	for _, c := range []struct {
		name    string
		entries []x509.RevocationListEntry
	}{{"crl-entries", distinct}, {"crl-same-serial", same}} {
		crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour),
			RevokedCertificateEntries: c.entries,
		}, ca, key)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, Input{c.name, crl})
	}
	out = append(out, Input{"crl-pem", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: out[0].Data})})
	return out, ca, nil
}
