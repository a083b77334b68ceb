package api

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzInvalidUTF8JSON: the walk never panics, names nothing in a valid
// UTF-8 body, and its message (sent to the client) stays short and valid
// UTF-8 whatever the body.
func FuzzInvalidUTF8JSON(f *testing.F) {
	for _, seed := range []string{
		`{"hostname":"a.example.com"}`,
		"{\"settings\":{\"pins\":[{\"identity\":\"\xc3\x28\"}]}}",
		"{\"\xff\":1}",
		"[[[[\"\xff\"]]]]",
		"{\"a\":[1,{\"b\":null},\"\xed\xa0\x80\"]}",
		"\"\xff\"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := invalidUTF8JSON(body)
		if got == "" {
			return
		}
		if utf8.Valid(body) {
			t.Fatalf("names %q in a valid UTF-8 body", got)
		}
		if len(got) > maxJSONPath+64 || !utf8.ValidString(got) || !strings.HasSuffix(got, "is not valid UTF-8") {
			t.Fatalf("message %q (%d bytes)", got, len(got))
		}
	})
}
