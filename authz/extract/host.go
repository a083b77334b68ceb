package extract

import "strings"

// Host name limits (RFC 1035).
const (
	maxHostLen  = 253
	maxLabelLen = 63
	maxPort     = 65535
)

// Host normalises an :authority or TLS SNI value into the key sites are
// looked up by: an optional ":port" (1 to 5 digits, at most 65535) is
// removed, then one trailing dot, and the rest is lowercased.
//
// Host returns "" (a key no site has) unless the result is a DNS name of at
// most 253 bytes whose labels are 1 to 63 characters of [a-z0-9-], except
// that the first label may be exactly "*" when more labels follow
// ("*.example.com"; not "*", "a*.example.com" or "a.*.example.com"). So IP literals in brackets
// ("[::1]:443"), bare IPv6 addresses, empty labels ("a..com", ".a.com",
// "a.com.."), an empty port ("a.com:"), '_' or any other character, and
// over-long names all yield "". Host allocates only when the input has
// uppercase letters; Host(Host(x)) == Host(x) for every x.
func Host(authority string) string {
	h := authority
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if !validPort(h[i+1:]) {
			return ""
		}
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	upper, ok := checkName(h)
	switch {
	case !ok:
		return ""
	case upper:
		return strings.ToLower(h)
	}
	return h
}

// validPort reports whether p is a decimal port number without sign.
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= maxPort
}

// checkName reports whether h is a valid host name in any letter case, and
// whether it has uppercase letters.
func checkName(h string) (upper, ok bool) {
	if h == "" || len(h) > maxHostLen {
		return false, false
	}
	h = strings.TrimPrefix(h, "*.") // a wildcard label, whole and first
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if label == 0 {
				return false, false
			}
			label = 0
			continue
		case 'A' <= c && c <= 'Z':
			upper = true
		case !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'):
			return false, false
		}
		if label++; label > maxLabelLen {
			return false, false
		}
	}
	return upper, label > 0
}

// Wildcard returns the key of the wildcard site a host falls under, which
// replaces the host's first label by "*": "a.example.com" gives
// "*.example.com". A wildcard site matches exactly one label, so
// "a.b.example.com" gives "*.b.example.com", never "*.example.com".
// Wildcard returns "" when the host has fewer than three labels (a site
// "*.com" cannot exist) or contains '*' already. host should come from
// Host.
func Wildcard(host string) string {
	first, rest, ok := strings.Cut(host, ".")
	if !ok || first == "" || strings.IndexByte(rest, '.') < 0 || strings.IndexByte(host, '*') >= 0 {
		return ""
	}
	return "*." + rest
}
