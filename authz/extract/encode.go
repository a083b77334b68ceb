package extract

// This file holds test helpers, exported so that other packages' tests can
// build CheckRequests the way Envoy fills them.

const upperHex = "0123456789ABCDEF"

// EncodeOld URL-encodes pemBytes the way older Envoy releases filled
// attributes.source.certificate: only newline, space, '+', '/' and '=' are
// percent-encoded. It is a test helper.
func EncodeOld(pemBytes []byte) string {
	return encode(pemBytes, func(c byte) bool {
		return c != '\n' && c != ' ' && c != '+' && c != '/' && c != '='
	})
}

// EncodeNew URL-encodes pemBytes the way newer Envoy releases fill
// attributes.source.certificate: every byte except ASCII letters, digits
// and "*-._" is percent-encoded. It is a test helper.
func EncodeNew(pemBytes []byte) string {
	return encode(pemBytes, func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '*' || c == '-' || c == '.' || c == '_'
	})
}

// encode percent-encodes (uppercase hex) every byte of b that keep refuses.
func encode(b []byte, keep func(byte) bool) string {
	out := make([]byte, 0, len(b)*3/2)
	for _, c := range b {
		if keep(c) {
			out = append(out, c)
		} else {
			out = append(out, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return string(out)
}
