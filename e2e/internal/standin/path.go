package standin

import (
	"strings"
)

const hexDigits = "0123456789ABCDEF"

// normalizePath applies the connection manager's path handling to a
// :path, in Envoy's order: %2F and %5C unescaped (UNESCAPE_AND_FORWARD),
// RFC 3986 normalisation (normalize_path), then adjacent slashes merged
// (merge_slashes). Only the path is touched, never the query. ok is false
// for a path Envoy rejects with 400: one with a fragment or not starting
// with "/".
func normalizePath(raw string) (string, bool) {
	if strings.Contains(raw, "#") || !strings.HasPrefix(raw, "/") {
		return "", false
	}
	path, query, hasQuery := strings.Cut(raw, "?")
	path = unescapeSlashes(path)
	path = canonicalPath(path)
	path = mergeSlashes(path)
	if hasQuery {
		return path + "?" + query, true
	}
	return path, true
}

// unescapeSlashes decodes %2F (to /) and %5C (to \), any case.
func unescapeSlashes(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			switch strings.ToUpper(p[i+1 : i+3]) {
			case "2F":
				b.WriteByte('/')
				i += 2
				continue
			case "5C":
				b.WriteByte('\\')
				i += 2
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// canonicalPath normalises a path as a URL canonicaliser does:
// backslashes become slashes, %-escaped unreserved characters are
// decoded, characters that may not appear raw are %-escaped, and "." and
// ".." segments are resolved (RFC 3986 section 5.2.4).
func canonicalPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			b.WriteByte('/')
		case c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if isUnreserved(d) {
				b.WriteByte(d)
			} else {
				b.WriteString(strings.ToUpper(p[i : i+3]))
			}
			i += 2
		case c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>`{}", c) >= 0:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return removeDotSegments(b.String())
}

// removeDotSegments resolves "." and ".." segments of an absolute path.
func removeDotSegments(p string) string {
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

// mergeSlashes collapses runs of "/".
func mergeSlashes(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
}

// urlEncodeCert percent-encodes a PEM certificate as newer Envoy fills
// source.certificate: everything but letters, digits and "*-._".
func urlEncodeCert(pemBytes []byte) string {
	var b strings.Builder
	for _, c := range pemBytes {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("*-._", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
