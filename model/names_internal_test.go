package model

import (
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestNamesKeyOptIn: the opt-in header fields (issue 15) are part of the
// key the model caches a site's header names under.
func TestNamesKeyOptIn(t *testing.T) {
	key := func(h map[string]string) (string, bool) {
		b, ok := namesKey(nil, &pb.ClientCertSettings{Headers: h})
		return string(b), ok
	}
	base, _ := key(map[string]string{"verify": "v"})
	seen := map[string]string{base: "base"}
	for name, h := range map[string]map[string]string{
		"cn":          {"verify": "v", "subject_cn": "x-cn"},
		"cn renamed":  {"verify": "v", "subject_cn": "x-cn2"},
		"oid":         {"verify": "v", "subject_oid.2.5.4.5": "x-cn"},
		"other oid":   {"verify": "v", "subject_oid.2.5.4.6": "x-cn"},
		"cn and oid":  {"verify": "v", "subject_cn": "x-cn", "subject_oid.2.5.4.5": "x-sn"},
		"key as name": {"verify": "v", "subject_cn": "subject_oid.2.5.4.5"},
	} {
		k, ok := key(h)
		if !ok {
			t.Fatalf("%s: not cacheable", name)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("%s and %s share a key", name, prev)
		}
		seen[k] = name
		if again, _ := key(h); again != k {
			t.Errorf("%s: key not stable", name)
		}
	}
	if _, ok := key(map[string]string{"verify": "v", "subject_c": "x"}); ok {
		t.Error("an unknown field is cacheable")
	}
}
