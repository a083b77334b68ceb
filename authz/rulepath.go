package authz

import (
	"errors"
	"net/url"
	pathpkg "path"
	"strings"
	"unicode/utf8"
)

// Access rules and request paths.
//
// A rule's prefix is made canonical once, when the policy is compiled
// (store.RulePrefix: no trailing slash, "" for "/"), and covers its path
// and every path below it on a segment boundary.
//
// A request path can mean different things to different origins: one
// decodes %2F into a slash and another keeps it inside a segment, a Java
// servlet container drops ";params" from segments, a Windows server reads
// '\' as '/', drops trailing dots and spaces and ignores case, some origins
// decode twice, and some resolve "." and ".." while others route the raw
// path. Rather than guess which origin sits behind a site, Check reads the
// path in each of these ways that applies to it (pathReadings) and finds
// the rule that governs each reading, with letters compared exactly and
// case-insensitively. When all agree, that rule (or none) applies; when
// they do not, the path is ambiguous and the request is refused
// (ambiguous_path). Envoy, as configured by xds, normalises paths before
// ext_authz sees them (dot segments, merged slashes, %2F and %5C
// unescaped), so a browser's requests never are; the check does not rely
// on it.

// errAmbiguous marks a path whose readings disagree, or that no origin
// can be trusted to read one way (control characters, invalid UTF-8).
var errAmbiguous = errors.New("ambiguous path")

// maxReadings bounds the readings of one path: the strict and literal
// readings and every combination of three transformations.
const maxReadings = 2 + 7

// pathReadings returns the readings of a request path (query and fragment
// already removed) that access rules are matched against. The first is the
// strict reading: percent-decoded once, dot segments resolved, slashes
// merged. It returns an error wrapping errAmbiguous for a path that is
// ambiguous in itself, and another error for a path that is not an
// origin-form path or does not decode.
func pathReadings(raw string, out *[maxReadings]string) ([]string, error) {
	if !strings.HasPrefix(raw, "/") {
		return nil, errors.New("not an origin-form path")
	}
	dec, err := url.PathUnescape(raw)
	if err != nil {
		return nil, err
	}
	if !readable(dec) {
		return nil, errAmbiguous
	}
	views := append(out[:0], pathpkg.Clean(dec), literal(raw))
	// The transformations that apply to this path, in the order applied.
	var steps [3]func(string) (string, bool)
	n := 0
	if strings.Contains(dec, "%") {
		steps[n] = decodeAgain
		n++
	}
	if strings.Contains(dec, ";") {
		steps[n] = dropParams
		n++
	}
	if strings.Contains(dec, `\`) || hasTrailingDotOrSpace(dec) {
		steps[n] = windowsPath
		n++
	}
	for set := 1; set < 1<<n; set++ {
		p, ok := dec, true
		for i := 0; i < n && ok; i++ {
			if set&(1<<i) != 0 {
				p, ok = steps[i](p)
			}
		}
		if !ok {
			return nil, errAmbiguous
		}
		views = append(views, pathpkg.Clean(p))
	}
	return views, nil
}

// readable reports whether a decoded path is valid UTF-8 without control
// characters (a NUL ends a path for some origins).
func readable(p string) bool {
	if !utf8.ValidString(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return false
		}
	}
	return true
}

// literal is the path as an origin that splits it before decoding and
// resolves no dot segments reads it: every escape decoded except those of
// '/', '\', ';' and '%', which stay inside their segment.
func literal(raw string) string {
	if !strings.Contains(raw, "%") {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '%' || i+2 >= len(raw) {
			b.WriteByte(raw[i])
			continue
		}
		c := unhex(raw[i+1])<<4 | unhex(raw[i+2]) // raw decoded: escapes are well-formed
		if c == '/' || c == '\\' || c == ';' || c == '%' {
			b.WriteString(raw[i : i+3])
		} else {
			b.WriteByte(c)
		}
		i += 2
	}
	return b.String()
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// decodeAgain is the path as an origin that decodes twice reads it. When
// a second decoding fails, such an origin refuses the path: that reading
// is the path itself. One that yields a control character or invalid
// UTF-8 makes the path ambiguous.
func decodeAgain(p string) (string, bool) {
	d, err := url.PathUnescape(p)
	if err != nil {
		return p, true
	}
	return d, readable(d)
}

// dropParams removes ";params" from every segment, as servlet containers
// do.
func dropParams(p string) (string, bool) {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return strings.Join(segs, "/"), true
}

// windowsPath reads '\' as '/' and drops trailing dots and spaces from
// every segment other than "." and "..", as Windows servers do.
func windowsPath(p string) (string, bool) {
	segs := strings.Split(strings.ReplaceAll(p, `\`, "/"), "/")
	for i, s := range segs {
		if s != "." && s != ".." {
			segs[i] = strings.TrimRight(s, ". ")
		}
	}
	return strings.Join(segs, "/"), true
}

// hasTrailingDotOrSpace reports whether a segment other than "." and ".."
// ends with a dot or a space.
func hasTrailingDotOrSpace(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg != "." && seg != ".." && (strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ")) {
			return true
		}
	}
	return false
}

// covers reports whether a canonical rule prefix covers path: path is the
// prefix or below it.
func covers(prefix, path string) bool {
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

// rule returns the index in p.rules of the rule governing path (-1 for
// none): the longest prefix covering it, compared exactly or, with fold,
// case-insensitively.
func (p *sitePolicy) rule(path string, fold bool) int {
	best, bestLen := -1, -1
	if fold {
		path = strings.ToLower(path)
	}
	for i := range p.rules {
		prefix := p.rules[i].Prefix
		if fold {
			prefix = p.rules[i].Folded
		}
		if len(prefix) > bestLen && covers(prefix, path) {
			best, bestLen = i, len(prefix)
		}
	}
	return best
}

// ruleFor returns the index of the rule governing a request path (-1 for
// none), or an error: wrapping errAmbiguous when the path's readings are
// governed by different rules, another when the path is unreadable.
func (p *sitePolicy) ruleFor(rawPath string) (int, error) {
	if i := strings.IndexAny(rawPath, "?#"); i >= 0 {
		rawPath = rawPath[:i]
	}
	var buf [maxReadings]string
	views, err := pathReadings(rawPath, &buf)
	if err != nil {
		return -1, err
	}
	governing := p.rule(views[0], false)
	for i, v := range views {
		if (i > 0 && p.rule(v, false) != governing) || p.rule(v, true) != governing {
			return -1, errAmbiguous
		}
	}
	return governing, nil
}
