package pki

import (
	"errors"
	"fmt"
)

// Some PKCS#12 writers (NSS, some Java and Windows versions) emit BER:
// indefinite lengths, non-minimal lengths, OCTET STRINGs cut into
// constructed pieces. pkcs12BERToDER rewrites such an encoding with the
// definite minimal lengths and primitive OCTET STRINGs the DER reader
// needs. It does not descend into primitive contents: the bytes inside
// an OCTET STRING that hold ASN.1 are rewritten when they are read.

// maxBERDepth bounds the nesting of a BER encoding (a PKCS#12 file's
// deepest path is about 12 elements, plus nested SafeContents).
const maxBERDepth = 32

// errBER is the detail of a BER encoding that cannot be read.
var errBER = errors.New("not a valid BER/DER encoding")

// pkcs12BERToDER returns in rewritten as DER lengths (see above), or in
// itself when it is already in that form. Its work is at most
// maxBERDepth copies of each byte; the output is at most twice as long.
func pkcs12BERToDER(in []byte, field string) ([]byte, error) {
	if !needsRewrite(in, 0) {
		return in, nil
	}
	out, rest, err := berElements(in, 0, false)
	if err == nil && len(rest) != 0 {
		err = errBER
	}
	if err != nil {
		return nil, errorf(ErrMalformed, "PKCS#12: %s: %v", field, err)
	}
	return out, nil
}

// berHeader is the parsed identifier and length of a BER element.
type berHeader struct {
	tag         byte // the single identifier octet
	indefinite  bool
	length      int // content length when definite
	headerBytes int
	minimal     bool // the length is in DER's minimal form
}

// readBERHeader reads the identifier and length octets at the start of in.
func readBERHeader(in []byte) (berHeader, error) {
	if len(in) < 2 {
		return berHeader{}, fmt.Errorf("%w: truncated element", errBER)
	}
	h := berHeader{tag: in[0], headerBytes: 2, minimal: true}
	if h.tag&0x1f == 0x1f {
		return h, fmt.Errorf("%w: high tag numbers are not supported", errBER)
	}
	l := in[1]
	switch {
	case l < 0x80:
		h.length = int(l)
	case l == 0x80:
		if h.tag&0x20 == 0 {
			return h, fmt.Errorf("%w: indefinite length on a primitive element", errBER)
		}
		h.indefinite, h.minimal = true, false
	case l <= 0x84:
		n := int(l & 0x7f)
		if len(in) < 2+n {
			return h, fmt.Errorf("%w: truncated length", errBER)
		}
		for _, c := range in[2 : 2+n] {
			h.length = h.length<<8 | int(c)
		}
		h.headerBytes += n
		h.minimal = h.length >= 0x80 && in[2] != 0
	default:
		return h, fmt.Errorf("%w: length of more than 4 bytes", errBER)
	}
	if !h.indefinite && h.length > len(in)-h.headerBytes {
		return h, fmt.Errorf("%w: element longer than its input", errBER)
	}
	return h, nil
}

// needsRewrite reports whether in (a series of elements) holds anything
// pkcs12BERToDER would change; malformed input reports true, so that
// berElements names what is wrong.
func needsRewrite(in []byte, depth int) bool {
	for len(in) > 0 {
		h, err := readBERHeader(in)
		if err != nil || !h.minimal || h.tag == 0x24 || depth > maxBERDepth {
			return true
		}
		body := in[h.headerBytes : h.headerBytes+h.length]
		if h.tag&0x20 != 0 && needsRewrite(body, depth+1) {
			return true
		}
		in = in[h.headerBytes+h.length:]
	}
	return false
}

// berElements rewrites the elements at the start of in, up to its end or
// (untilEOC) an end-of-contents marker, and returns the rest after it.
func berElements(in []byte, depth int, untilEOC bool) ([]byte, []byte, error) {
	if depth > maxBERDepth {
		return nil, nil, fmt.Errorf("%w: nested more than %d deep", errBER, maxBERDepth)
	}
	var out []byte
	for {
		if len(in) == 0 {
			if untilEOC {
				return nil, nil, fmt.Errorf("%w: missing end-of-contents", errBER)
			}
			return out, nil, nil
		}
		if untilEOC && len(in) >= 2 && in[0] == 0 && in[1] == 0 {
			return out, in[2:], nil
		}
		h, err := readBERHeader(in)
		if err != nil {
			return nil, nil, err
		}
		content, rest := in[h.headerBytes:], []byte(nil)
		if !h.indefinite {
			content, rest = in[h.headerBytes:h.headerBytes+h.length], in[h.headerBytes+h.length:]
		}
		tag := h.tag
		if tag&0x20 != 0 {
			var inner []byte
			inner, content, err = berElements(content, depth+1, h.indefinite)
			if err != nil {
				return nil, nil, err
			}
			if h.indefinite {
				rest = content
			}
			content = inner
			if tag == 0x24 { // constructed OCTET STRING: join the pieces
				if content, err = joinOctets(content); err != nil {
					return nil, nil, err
				}
				tag = 0x04
			}
		}
		out = appendDERHeader(append(out, tag), len(content))
		out = append(out, content...)
		in = rest
	}
}

// joinOctets concatenates the contents of a series of DER OCTET STRINGs.
func joinOctets(der []byte) ([]byte, error) {
	var out []byte
	for len(der) > 0 {
		h, err := readBERHeader(der)
		if err != nil || h.tag != 0x04 {
			return nil, fmt.Errorf("%w: a constructed OCTET STRING holds something else", errBER)
		}
		out = append(out, der[h.headerBytes:h.headerBytes+h.length]...)
		der = der[h.headerBytes+h.length:]
	}
	return out, nil
}

// appendDERHeader appends the minimal DER length octets of n.
func appendDERHeader(out []byte, n int) []byte {
	if n < 0x80 {
		return append(out, byte(n))
	}
	var b []byte
	for ; n > 0; n >>= 8 {
		b = append([]byte{byte(n)}, b...)
	}
	return append(append(out, 0x80|byte(len(b))), b...)
}
