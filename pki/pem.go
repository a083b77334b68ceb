package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PEM scanning reads its input a bounded number of times, whatever its shape
// (finding 9): the scanner below never goes back over a byte except to
// re-read the block or line it is in, so it runs in time linear in the input.
// It does not use encoding/pem.Decode. Decode is linear too since Go 1.24.8
// and 1.25.2, but it skips a block it cannot decode and tries again from a
// later one, which scanPEM refuses anyway, and its work cannot be counted:
// here every search goes through pemScanner, whose count of examined bytes
// the tests bound. scanPEM accepts exactly the blocks pem.Decode decodes at
// the same place (pem_old_test.go keeps the old scanner, built on Decode, and
// the tests compare them).

var (
	pemBeginMarker = []byte("-----BEGIN")
	pemEndMarker   = []byte("-----END")
	pemBeginLine   = []byte("-----BEGIN ") // what starts a decodable block
	pemEndLine     = []byte("\n-----END ") // what starts its END line
	pemDashes      = []byte("-----")
)

// isPEM reports whether data looks like PEM, i.e. contains a BEGIN marker.
func isPEM(data []byte) bool {
	return bytes.Contains(data, pemBeginMarker)
}

// isPrivateKeyType reports whether a PEM block type names a private key
// ("PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
// "OPENSSH PRIVATE KEY", ...) in any case, look-alike letters included:
// each rune is lower- then upper-cased, which maps the dotless i to I and
// the Kelvin sign to K, so that the type matches whenever upper-casing or
// Unicode case folding would make it match. Erring on the side of "key"
// only refuses an upload.
func isPrivateKeyType(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] >= utf8.RuneSelf {
			return strings.Contains(strings.Map(foldUpper, t), "PRIVATE KEY")
		}
	}
	return strings.Contains(strings.ToUpper(t), "PRIVATE KEY") // the same for ASCII, and faster
}

// foldUpper maps a rune to the upper case of its lower case.
func foldUpper(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }

// beginType returns the type named on a BEGIN line (line starts with the
// BEGIN marker and holds no newline), whether or not the line is well formed.
func beginType(line []byte) string {
	line = bytes.TrimPrefix(line, pemBeginMarker)
	line = bytes.TrimSpace(line)
	line = bytes.TrimSuffix(line, pemDashes)
	return strings.ToValidUTF8(string(bytes.TrimSpace(line)), "?")
}

// pemScanner holds the count of bytes one scan looked at. Every search goes
// through its methods, so that tests can check that examined stays within a
// small multiple of the input's length.
type pemScanner struct {
	examined int
}

// index is bytes.Index, counting the bytes up to the end of the match (all
// of b when there is none).
func (s *pemScanner) index(b, sep []byte) int {
	i := bytes.Index(b, sep)
	if i < 0 {
		s.examined += len(b)
	} else {
		s.examined += i + len(sep)
	}
	return i
}

// line returns b up to its first newline (excluded), counting what it read.
func (s *pemScanner) line(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		s.examined += i + 1
		return b[:i]
	}
	s.examined += len(b)
	return b
}

// getLine returns the line starting at b[pos:] without its newline, an
// optional carriage return before it, and trailing spaces and tabs (the
// rules of encoding/pem), and the offset of the next line (len(b) at the end).
func (s *pemScanner) getLine(b []byte, pos int) ([]byte, int) {
	l := s.line(b[pos:])
	next := pos + len(l)
	if next < len(b) {
		next++ // the newline
		if len(l) > 0 && l[len(l)-1] == '\r' {
			l = l[:len(l)-1]
		}
	}
	return bytes.TrimRight(l, " \t"), next
}

// findPrivateKeyBlock looks at every BEGIN marker of data, decodable or not,
// and returns the 1-based number and type of the first one naming a private
// key, or 0. The type of a marker is the rest of its line (beginType); a
// later marker on the same line names a substring of the first one's type,
// so only the first marker of each line needs a look.
func (s *pemScanner) findPrivateKeyBlock(data []byte) (int, string) {
	n := 0
	for rest := data; ; {
		i := s.index(rest, pemBeginMarker)
		if i < 0 {
			return 0, ""
		}
		line := s.line(rest[i:])
		n++
		if t := beginType(line); isPrivateKeyType(t) {
			return n, t
		}
		s.examined += len(line)
		n += bytes.Count(line[len(pemBeginMarker):], pemBeginMarker)
		rest = rest[i+len(line):]
	}
}

// scanPEM decodes every PEM block of data, in order. Text outside blocks
// (such as the "subject=" lines openssl prints) is allowed as long as it
// contains no BEGIN or END marker. A BEGIN line must start a line, and every
// block must decode (matching END line, valid base64); otherwise scanPEM
// returns an ErrMalformed error together with the blocks decoded so far.
func (s *pemScanner) scanPEM(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		i := s.index(rest, pemBeginMarker)
		text := rest
		if i >= 0 {
			text = rest[:i]
		}
		if s.index(text, pemEndMarker) >= 0 {
			where := "before PEM block #1"
			if len(blocks) > 0 {
				where = "after PEM block #" + strconv.Itoa(len(blocks))
			}
			return blocks, errorf(ErrMalformed, "found an END line without a matching BEGIN line %s", where)
		}
		if i < 0 {
			return blocks, nil
		}
		n := len(blocks) + 1
		if i > 0 && rest[i-1] != '\n' {
			return blocks, errorf(ErrMalformed, "the BEGIN line of PEM block #%d (%s) does not start at the beginning of a line", n, quote(beginType(s.line(rest[i:]))))
		}
		block, used := s.decodeBlock(rest[i:])
		if block == nil {
			return blocks, errorf(ErrMalformed, "PEM block #%d (%s) is truncated or garbled (missing or mismatched END line, or invalid base64)", n, quote(beginType(s.line(rest[i:]))))
		}
		blocks = append(blocks, block)
		rest = rest[i+used:]
	}
}

// decodeBlock decodes the PEM block b starts with, as encoding/pem.Decode
// would when the block is the first it finds, and returns it with the
// number of bytes it takes up to the end of its END line. It returns nil
// when the block does not decode, or when another BEGIN marker lies within
// it (where pem.Decode would have skipped to a later block). It reads b up to
// the end of the block's END line, or to the end of b when there is none.
func (s *pemScanner) decodeBlock(b []byte) (*pem.Block, int) {
	if !bytes.HasPrefix(b, pemBeginLine) {
		return nil, 0
	}
	typ, p := s.getLine(b, len(pemBeginLine))
	if !bytes.HasSuffix(typ, pemDashes) || p == len(b) {
		return nil, 0
	}
	typ = typ[:len(typ)-len(pemDashes)]
	k := s.index(b[p-1:], pemEndLine)
	if k < 0 {
		return nil, 0
	}
	end := p + k // the END line
	block := &pem.Block{Type: string(typ), Headers: make(map[string]string)}
	body, ok := s.headers(b, p, end, block.Headers)
	if !ok {
		return nil, 0
	}
	trailer := end + len(pemEndLine) - 1
	if len(b)-trailer < len(typ)+len(pemDashes) ||
		!bytes.HasPrefix(b[trailer:], typ) || !bytes.HasPrefix(b[trailer+len(typ):], pemDashes) {
		return nil, 0
	}
	after, used := s.getLine(b, trailer+len(typ)+len(pemDashes))
	if len(after) != 0 {
		return nil, 0
	}
	block.Bytes = []byte{}
	if body < end-1 {
		s.examined += end - 1 - body
		data := removeSpacesAndTabs(b[body : end-1])
		block.Bytes = make([]byte, base64.StdEncoding.DecodedLen(len(data)))
		n, err := base64.StdEncoding.Decode(block.Bytes, data)
		if err != nil {
			return nil, 0
		}
		block.Bytes = block.Bytes[:n]
	}
	if s.index(b[1:used], pemBeginMarker) >= 0 {
		return nil, 0
	}
	return block, used
}

// headers reads the header lines ("Key: value") of the block whose body
// starts at b[p:] and whose END line starts at b[end:], into h, and returns
// where the body starts. It fails, as pem.Decode does, when a header line is
// the END line or when headers are not followed by a line before the END line.
func (s *pemScanner) headers(b []byte, p, end int, h map[string]string) (int, bool) {
	for p <= end {
		line, next := s.getLine(b, p)
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			break
		}
		h[string(bytes.TrimSpace(key))] = string(bytes.TrimSpace(val))
		p = next
	}
	return p, p < end || p == end && len(h) == 0
}

// removeSpacesAndTabs returns data without its spaces and tabs (base64
// decoding skips only newlines).
func removeSpacesAndTabs(data []byte) []byte {
	if !bytes.ContainsAny(data, " \t") {
		return data
	}
	out := make([]byte, 0, len(data))
	for _, c := range data {
		if c != ' ' && c != '\t' {
			out = append(out, c)
		}
	}
	return out
}

// findPrivateKeyBlock is pemScanner.findPrivateKeyBlock with a scanner of its own.
func findPrivateKeyBlock(data []byte) (int, string) {
	var s pemScanner
	return s.findPrivateKeyBlock(data)
}

// scanPEM is pemScanner.scanPEM with a scanner of its own.
func scanPEM(data []byte) ([]*pem.Block, error) {
	var s pemScanner
	return s.scanPEM(data)
}

// isDERPrivateKey reports whether der parses as a PKCS#8, PKCS#1 or SEC1
// private key.
func isDERPrivateKey(der []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParseECPrivateKey(der); err == nil {
		return true
	}
	return false
}
