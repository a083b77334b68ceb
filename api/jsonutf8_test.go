package api

import (
	"strings"
	"testing"
)

// TestInvalidUTF8JSON: the member whose key or value is not UTF-8 is named
// by its path, wherever it is nested; valid and non-JSON documents name none.
func TestInvalidUTF8JSON(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"hostname":"a.example.com"}`, ""},
		{"{\"hostname\":\"\xff\"}", "field hostname is not valid UTF-8"},
		{"{\"site\":{\"hostname\":\"ok\",\"origin_url\":\"\xc3\x28\"}}", "field site.origin_url is not valid UTF-8"},
		{"{\"a\":[1,{\"b\":\"ok\"},\"x\"],\"settings\":{\"pins\":[{\"identity\":\"ok\"},{\"identity\":\"\xed\xa0\x80\"}]}}",
			"field settings.pins[1].identity is not valid UTF-8"},
		{"{\"names\":[\"ok\",\"\xff\"]}", "field names[1] is not valid UTF-8"},
		{"{\"\xff\":1}", "a member name is not valid UTF-8"},
		{"{\"settings\":{\"\xff\":1}}", "a member name in settings is not valid UTF-8"},
		{"{\"a\":{\"b\":{}},\"c\":\"\xff\"}", "field c is not valid UTF-8"},
		{"\"\xff\"", "the document is a string that is not valid UTF-8"},
		{"{\"hostname\":", ""},
		{"not json \xff", ""},
	} {
		if got := invalidUTF8JSON([]byte(tc.body)); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestInvalidUTF8JSONIsBounded: hostile bodies cost the walk little: a
// valid body is not walked, deep nesting is given up on, and a long key is
// not copied whole into the message.
func TestInvalidUTF8JSONIsBounded(t *testing.T) {
	deep := strings.Repeat("[", 1<<20) + "\"\xff\""
	if got := invalidUTF8JSON([]byte(deep)); got != "" {
		t.Errorf("1 MiB of nesting: %q, want the walk given up", got)
	}
	if got := invalidUTF8JSON([]byte(strings.Repeat("[", 31) + "\"\xff\"")); got != "field [0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0] is not valid UTF-8" {
		t.Errorf("31 levels: %q", got)
	}
	long := "{\"" + strings.Repeat("k", 1<<20) + "\":\"\xff\"}"
	got := invalidUTF8JSON([]byte(long))
	if len(got) > 300 || !strings.Contains(got, "…") {
		t.Errorf("1 MiB key: %d bytes of message, want it cut", len(got))
	}
	allocs := testing.AllocsPerRun(5, func() { invalidUTF8JSON([]byte(deep[1:])) })
	if allocs > 200 {
		t.Errorf("deep body: %.0f allocations, want the walk to stop early", allocs)
	}
}
