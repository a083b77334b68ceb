package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// invalidUTF8JSON says which member of a JSON document is the first whose
// key or string value is not UTF-8, naming it by the path of the keys the
// client sent ("field settings.pins[1].identity is not valid UTF-8"), or
// returns "" when there is none or the document is not JSON. protojson refuses such a document without saying where;
// this walk says where. encoding/json reads invalid bytes as U+FFFD
// without an error, so each token's raw bytes are checked instead. The
// work is linear in len(body).
//
// The walk is for the refusal message only and is bounded for hostile
// bodies: it runs only when the body holds invalid UTF-8, gives up past
// maxJSONDepth levels of nesting (protojson allows 10,000; no API message
// nests beyond a few), and shortens the path it renders.
func invalidUTF8JSON(body []byte) string {
	if utf8.Valid(body) {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var path jsonPath
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		off := dec.InputOffset()
		raw := body[prev:off]
		prev = off
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '{' || tok == '[' {
				if len(path) == maxJSONDepth {
					return ""
				}
				path.open(tok == '{')
				continue
			}
			path.close()
		case string:
			if path.wantsKey() {
				if !utf8.Valid(raw) {
					if len(path) == 1 {
						return "a member name is not valid UTF-8"
					}
					return "a member name in " + path.String() + " is not valid UTF-8"
				}
				path.key(tok)
				continue
			}
			if !utf8.Valid(raw) {
				if len(path) == 0 {
					return "the document is a string that is not valid UTF-8"
				}
				return "field " + path.String() + " is not valid UTF-8"
			}
		}
		path.next()
	}
}

// maxJSONDepth bounds the nesting invalidUTF8JSON follows, and
// maxJSONPath the length of the path it renders.
const (
	maxJSONDepth = 32
	maxJSONPath  = 200
)

// jsonPath is where a JSON walk is: one frame per open object or array.
type jsonPath []jsonFrame

type jsonFrame struct {
	object  bool
	haveKey bool   // an object member's key was read, its value not yet
	name    string // the current member's key, or the array index
	index   int
}

func (p *jsonPath) open(object bool) { *p = append(*p, jsonFrame{object: object}) }

// close ends the innermost object or array, which was a value of its
// parent.
func (p *jsonPath) close() { *p = (*p)[:len(*p)-1] }

// wantsKey reports whether the next string is an object member's key.
func (p jsonPath) wantsKey() bool { return len(p) > 0 && p[len(p)-1].object && !p[len(p)-1].haveKey }

func (p jsonPath) key(k string) { p[len(p)-1].haveKey, p[len(p)-1].name = true, k }

// next records that a value of the innermost object or array was read.
func (p jsonPath) next() {
	if len(p) == 0 {
		return
	}
	f := &p[len(p)-1]
	if f.object {
		f.haveKey = false
	} else {
		f.index++
	}
}

// String renders the path to the current value, "" at the top, cut to
// maxJSONPath bytes (a key may be as long as the body).
func (p jsonPath) String() string {
	var b []byte
	for i, f := range p {
		if len(b) > maxJSONPath {
			break
		}
		switch {
		case f.object && f.haveKey:
			if i > 0 {
				b = append(b, '.')
			}
			b = append(b, f.name...)
		case !f.object:
			b = append(append(append(b, '['), strconv.Itoa(f.index)...), ']')
		}
	}
	if len(b) > maxJSONPath {
		return strings.ToValidUTF8(string(b[:maxJSONPath]), "") + "…"
	}
	return string(b)
}
