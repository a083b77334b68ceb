package originhdr

import "unicode/utf8"

const upperHex = "0123456789ABCDEF"

// validValue reports whether v can be sent as it is: non-empty, valid
// UTF-8, no byte below 0x20 nor 0x7f, no leading or trailing space.
func validValue(v string) bool {
	if v == "" || v[0] == ' ' || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= utf8.RuneSelf:
			return validUTF8Value(v[i:])
		case c < 0x20 || c == 0x7f:
			return false
		}
	}
	return true
}

// validUTF8Value is validValue's loop from the first non-ASCII byte on.
func validUTF8Value(v string) bool {
	for i, r := range v {
		switch {
		case r < 0x20 || r == 0x7f:
			return false
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(v[i:]); size == 1 {
				return false // an invalid byte, not an encoded U+FFFD
			}
		}
	}
	return true
}

// safeValue returns v if it is a valid field value, and otherwise v with
// every control byte (below 0x20, 0x7f), every byte of an invalid UTF-8
// sequence, and a leading or trailing space written as `\XX` (two uppercase
// hex digits, the RFC 4514 hexpair form). An empty v stays empty.
func safeValue(v string) string {
	if v == "" || validValue(v) {
		return v
	}
	out := make([]byte, 0, len(v)+8)
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		edge := v[i] == ' ' && (i == 0 || i == len(v)-1)
		if r == utf8.RuneError && size == 1 || r < 0x20 || r == 0x7f || edge {
			out = append(out, '\\', upperHex[v[i]>>4], upperHex[v[i]&15])
		} else {
			out = append(out, v[i:i+size]...)
		}
		i += size
	}
	return string(out)
}
