package xfcc

import (
	"fmt"
	"strings"
)

// parser walks the header once, left to right.
type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i >= len(p.s) }

func (p *parser) fail(format string, args ...any) error {
	return fmt.Errorf("%w: "+format+" at byte %d", append([]any{ErrMalformed}, append(args, p.i)...)...)
}

// skipSpace skips the optional whitespace allowed around separators.
func (p *parser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// element reads pairs up to the "," that ends the element, or the end.
func (p *parser) element() (Element, error) {
	var e Element
	seen := 0
	others := false // a key other than By came
	for n := 0; ; n++ {
		if n == MaxPairs {
			return e, p.fail("more than %d pairs in an element", MaxPairs)
		}
		p.skipSpace()
		key, err := p.key()
		if err != nil {
			return e, err
		}
		val, err := p.value()
		if err != nil {
			return e, err
		}
		if by := strings.EqualFold(key, "by"); by && others {
			// Envoy writes By first. One after another key can only
			// come from a value that split the element: a URI or DNS
			// SAN holding ";By=", which Envoy writes unescaped.
			return e, p.fail("By after another key (Envoy writes By first)")
		} else if !by {
			others = true
		}
		if err := e.set(key, val, &seen); err != nil {
			return e, p.fail("%v", err)
		}
		p.skipSpace()
		if p.done() || p.s[p.i] == ',' {
			return e, nil
		}
		if p.s[p.i] != ';' {
			return e, p.fail("unexpected %q after a value", p.s[p.i])
		}
		p.i++
	}
}

// key reads KEY= (letters, digits, "-" and "_").
func (p *parser) key() (string, error) {
	start := p.i
	for p.i < len(p.s) && isKeyByte(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", p.fail("a key was expected")
	}
	if p.done() || p.s[p.i] != '=' {
		return "", p.fail("no \"=\" after key %q", p.s[start:p.i])
	}
	key := p.s[start:p.i]
	p.i++
	return key, nil
}

func isKeyByte(c byte) bool {
	return c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// value reads a quoted value (its content, escapes kept) or an unquoted
// one, which may be empty.
func (p *parser) value() (string, error) {
	if p.done() || p.s[p.i] != '"' {
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ';' && p.s[p.i] != ',' {
			if p.s[p.i] == '"' {
				return "", p.fail("a double quote inside an unquoted value")
			}
			p.i++
		}
		return strings.Trim(p.s[start:p.i], " \t"), nil
	}
	p.i++
	start := p.i
	// Jump from quote to quote (a Cert or Chain is kilobytes long): a
	// quote closes the value unless an odd run of backslashes escapes
	// it. Each backslash is counted by one quote only: linear.
	for i := start; ; {
		j := strings.IndexByte(p.s[i:], '"')
		if j < 0 {
			return "", p.fail("unterminated quoted value")
		}
		q := i + j
		n := 0
		for q-n-1 >= start && p.s[q-n-1] == '\\' {
			n++
		}
		if n%2 == 0 {
			p.i = q + 1
			return p.s[start:q], nil
		}
		i = q + 1
	}
}

// Keys that name one thing, each a bit of an element's seen set.
const (
	seenHash = 1 << iota
	seenCert
	seenChain
	seenSubject
	seenIssuer
)

// set records one pair. Keys are matched without regard to case;
// unknown keys (other proxies' additions) are ignored; a key that names
// one thing may appear once.
func (e *Element) set(key, val string, seen *int) error {
	var dst *string
	bit := 0
	is := func(name string) bool { return strings.EqualFold(key, name) } // no lowercased copy
	switch {
	case is("by"):
		e.By = append(e.By, val)
	case is("uri"):
		if val != "" { // Envoy writes "URI=" for a certificate without one
			e.URI = append(e.URI, val)
		}
	case is("dns"):
		e.DNS = append(e.DNS, val)
	case is("hash"):
		if !isHash(val) {
			return fmt.Errorf("the Hash value is not 64 lowercase hex digits")
		}
		dst, bit = &e.Hash, seenHash
	case is("cert"):
		dst, bit = &e.Cert, seenCert
	case is("chain"):
		dst, bit = &e.Chain, seenChain
	case is("subject"):
		dst, bit = &e.Subject, seenSubject
	case is("issuer"):
		dst, bit = &e.Issuer, seenIssuer
	}
	if dst == nil {
		return nil
	}
	if *seen&bit != 0 {
		return fmt.Errorf("%s twice in one element", key)
	}
	*seen |= bit
	*dst = val
	return nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
