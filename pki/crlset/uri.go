package crlset

import "strings"

// canonicalURI returns s with its scheme and host in lower case, the parts
// of a URI compared without regard to case (RFC 5280 7.4, RFC 3986
// 6.2.2.1); the rest (path, query, user info) is compared exactly. It
// returns s itself, without allocating, when those parts hold no upper
// case letter: the common case, on the request path.
func canonicalURI(s string) string {
	scheme, host := uriCaseInsensitive(s)
	if !hasUpper(s[:scheme]) && !hasUpper(s[host[0]:host[1]]) {
		return s
	}
	b := []byte(s)
	lower(b[:scheme])
	lower(b[host[0]:host[1]])
	return string(b)
}

// uriCaseInsensitive returns where the scheme of s ends (0: none) and the
// bounds of its host (empty when it has no authority).
func uriCaseInsensitive(s string) (scheme int, host [2]int) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || strings.ContainsAny(s[:i], "/?#") {
		return 0, [2]int{0, 0} // no scheme: a relative reference, compared exactly
	}
	rest := s[i+1:]
	if !strings.HasPrefix(rest, "//") {
		return i, [2]int{0, 0}
	}
	start := i + 3
	end := len(s)
	if j := strings.IndexAny(s[start:], "/?#"); j >= 0 {
		end = start + j
	}
	if at := strings.LastIndexByte(s[start:end], '@'); at >= 0 {
		start += at + 1 // user info is case-sensitive
	}
	return i, [2]int{start, end}
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func lower(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}
