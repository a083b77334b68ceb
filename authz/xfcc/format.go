package xfcc

import "strings"

// Format writes elements as Envoy does (By, Hash, Cert, Chain, Subject,
// Issuer, URI, DNS; Cert, Chain, Subject and Issuer quoted), for tests
// and for proxies that stand in for Envoy. A By, URI or DNS value holding
// a separator, a double quote or edge whitespace is quoted as it is, and
// a value Parse returned is written so that Parse reads it back the same.
// An Element must have at least one field.
func Format(elements []Element) string {
	var b strings.Builder
	for i, e := range elements {
		if i > 0 {
			b.WriteByte(',')
		}
		var pairs []string
		for _, v := range e.By {
			pairs = append(pairs, "By="+bare(v))
		}
		if e.Hash != "" {
			pairs = append(pairs, "Hash="+e.Hash)
		}
		for _, f := range []struct{ k, v string }{{"Cert", e.Cert}, {"Chain", e.Chain}, {"Subject", e.Subject}, {"Issuer", e.Issuer}} {
			if f.v == "" {
				continue
			}
			if quotable(f.v) {
				pairs = append(pairs, f.k+`="`+f.v+`"`)
			} else {
				pairs = append(pairs, f.k+"="+f.v) // read unquoted, so it can be written so
			}
		}
		for _, v := range e.URI {
			pairs = append(pairs, "URI="+bare(v))
		}
		for _, v := range e.DNS {
			pairs = append(pairs, "DNS="+bare(v))
		}
		b.WriteString(strings.Join(pairs, ";"))
	}
	return b.String()
}

// bare is v unquoted when Parse reads it back the same, else quoted.
func bare(v string) string {
	if (strings.ContainsAny(v, `;,"`) || strings.Trim(v, " \t") != v) && quotable(v) {
		return `"` + v + `"`
	}
	return v
}

// quotable reports whether v between double quotes reads back as v: no
// double quote that a backslash does not escape, and no backslash that
// would escape the closing one.
func quotable(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if i++; i == len(v) {
				return false
			}
		case '"':
			return false
		}
	}
	return true
}
