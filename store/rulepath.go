package store

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// maxRulePrefixLen bounds an access rule's path prefix.
const maxRulePrefixLen = 1024

// RulePrefix checks an access rule's path_prefix and returns its canonical
// form: the path without trailing slashes ("" for "/"). A rule covers its
// canonical path and every path below it on a segment boundary, so "/admin"
// and "/admin/" both cover "/admin", "/admin/" and "/admin/x", and neither
// covers "/administrator".
//
// A prefix is written as the decoded path it protects, in one spelling
// only: it starts with '/', is valid UTF-8, and has no empty, "." or ".."
// segment (except one trailing slash), no control character, and none of
// '%', '\', ';', '?' and '#', whose reading differs between origins (authz
// refuses requests whose path they make ambiguous).
func RulePrefix(p string) (string, error) {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "", errors.New("must start with '/'")
	case len(p) > maxRulePrefixLen:
		return "", errors.New("is longer than 1024 bytes")
	case !utf8.ValidString(p):
		return "", errors.New("is not valid UTF-8")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", errors.New("contains a control character")
		}
		if strings.ContainsRune(`%\;?#`, r) {
			return "", errors.New(`may not contain '%', '\', ';', '?' or '#': write the decoded path`)
		}
	}
	canon := strings.TrimSuffix(p, "/")
	for _, seg := range strings.Split(canon, "/")[1:] {
		switch seg {
		case "":
			return "", errors.New("has an empty segment (\"//\")")
		case ".", "..":
			return "", errors.New("has a \".\" or \"..\" segment")
		}
	}
	return canon, nil
}
