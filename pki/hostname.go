package pki

import (
	"crypto/x509"
	"net/netip"
	"strings"
)

// Hostname limits (RFC 1035).
const (
	maxHostnameLen = 253
	maxLabelLen    = 63
)

// CheckHostname reports whether h is a valid site hostname, the canonical
// key of a site. A valid hostname:
//
//   - is ASCII and lowercase (uppercase is refused, not folded, so that keys
//     are canonical; internationalised names must be given in punycode, and
//     "xn--" labels are fine);
//   - has at most 253 characters, no trailing dot and at least two labels;
//   - has labels of 1 to 63 characters from [a-z0-9-], neither starting nor
//     ending with '-';
//   - is not an IP address, and its last label is not all digits;
//   - may start with a wildcard label "*." that is the whole first label,
//     followed by at least two labels ("*.example.com", not "*.com",
//     "a*.example.com" or "*.*.example.com").
//
// The error wraps ErrHostname and says why h is refused.
func CheckHostname(h string) error {
	if h == "" {
		return errorf(ErrHostname, "hostname is empty")
	}
	bad := func(reason string, args ...any) error {
		return errorf(ErrHostname, "%s: "+reason, append([]any{quote(h)}, args...)...)
	}
	if len(h) > maxHostnameLen {
		return bad("%d characters, more than %d", len(h), maxHostnameLen)
	}
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			return bad("must be ASCII (write internationalised names in punycode, xn--...)")
		}
	}
	if strings.ToLower(h) != h {
		return bad("must be lowercase")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return bad("IP addresses are not allowed")
	}
	if strings.HasSuffix(h, ".") {
		return bad("must not end with a dot")
	}
	rest, wildcard := strings.CutPrefix(h, "*.")
	if strings.Contains(rest, "*") {
		return bad("'*' is only allowed as the whole first label (*.example.com)")
	}
	labels := strings.Split(rest, ".")
	for i, l := range labels {
		if err := checkLabel(l); err != "" {
			return bad("label %d %s", i+1+btoi(wildcard), err)
		}
	}
	switch {
	case wildcard && len(labels) < 2:
		return bad("a wildcard must be followed by at least two labels (*.example.com)")
	case len(labels) < 2:
		return bad("must have at least two labels (example.com)")
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return bad("the last label %s is all digits", quote(tld))
	}
	return nil
}

// checkLabel returns why l is not a valid DNS label, or "".
func checkLabel(l string) string {
	switch {
	case l == "":
		return "is empty"
	case len(l) > maxLabelLen:
		return "is longer than 63 characters"
	case l[0] == '-':
		return "starts with '-'"
	case l[len(l)-1] == '-':
		return "ends with '-'"
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return "contains " + quote(string(c)) + "; only a-z, 0-9 and '-' are allowed"
		}
	}
	return ""
}

// btoi is 1 for true and 0 for false.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Covers reports whether the DNS subject alternative names of a server
// certificate cover the site hostname (the subject common name is ignored,
// as by modern clients). Names compare case-insensitively.
//
// For a wildcard site "*.example.com" the certificate must carry
// "*.example.com" itself. For "www.example.com" either "www.example.com" or
// "*.example.com" does; a wildcard SAN matches exactly one whole label, and
// only when at least two labels follow it ("*.com" covers nothing).
func Covers(leaf *x509.Certificate, hostname string) bool {
	if leaf == nil || hostname == "" {
		return false
	}
	hostname = strings.ToLower(hostname)
	for _, san := range leaf.DNSNames {
		san = strings.ToLower(san)
		if san == hostname {
			return true
		}
		if strings.HasPrefix(hostname, "*.") {
			continue
		}
		base, ok := strings.CutPrefix(san, "*.")
		if !ok || !strings.Contains(base, ".") || strings.Contains(base, "*") {
			continue
		}
		// san is "*.example.com"; hostname must be "label.example.com".
		if label, ok := strings.CutSuffix(hostname, "."+base); ok && label != "" && !strings.Contains(label, ".") {
			return true
		}
	}
	return false
}
