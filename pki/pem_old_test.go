package pki

import (
	"bytes"
	"encoding/pem"
	"strconv"
)

// The PEM scanner as it was before finding 9, kept as the reference the
// new one must agree with (TestScanPEMMatchesOld, FuzzScanPEM): same blocks,
// same errors. Its only fault was its running time, quadratic in the number
// of BEGIN markers on one line; use it on small inputs only.

func oldBeginType(b []byte) string {
	line := b
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	return beginType(line)
}

func oldFindPrivateKeyBlock(data []byte) (int, string) {
	n := 0
	for rest := data; ; {
		i := bytes.Index(rest, pemBeginMarker)
		if i < 0 {
			return 0, ""
		}
		n++
		if t := oldBeginType(rest[i:]); isPrivateKeyType(t) {
			return n, t
		}
		rest = rest[i+len(pemBeginMarker):]
	}
}

func oldScanPEM(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		i := bytes.Index(rest, pemBeginMarker)
		text := rest
		if i >= 0 {
			text = rest[:i]
		}
		if bytes.Contains(text, pemEndMarker) {
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
		typ := oldBeginType(rest[i:])
		if i > 0 && rest[i-1] != '\n' {
			return blocks, errorf(ErrMalformed, "the BEGIN line of PEM block #%d (%s) does not start at the beginning of a line", n, quote(typ))
		}
		block, after := pem.Decode(rest[i:])
		if block == nil || bytes.Contains(rest[i+1:len(rest)-len(after)], pemBeginMarker) {
			return blocks, errorf(ErrMalformed, "PEM block #%d (%s) is truncated or garbled (missing or mismatched END line, or invalid base64)", n, quote(typ))
		}
		blocks = append(blocks, block)
		rest = after
	}
}
