package store_test

import (
	"testing"

	"github.com/mtlsgate/mtlsgate/store"
)

// TestFinding2_RulePrefix: rule prefixes are validated and made canonical
// once, when stored, so that "/admin/" and "/admin" protect the same paths.
func TestFinding2_RulePrefix(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"/", "", true},
		{"/admin", "/admin", true},
		{"/admin/", "/admin", true},
		{"/Admin/Panel", "/Admin/Panel", true},
		{"/ä/b", "/ä/b", true},
		{"/admin.", "/admin.", true},
		{"admin", "", false},
		{"", "", false},
		{"//admin", "", false},
		{"/admin//", "", false},
		{"/admin/./x", "", false},
		{"/admin/..", "", false},
		{"/%61dmin", "", false},
		{`/admin\x`, "", false},
		{"/admin;x", "", false},
		{"/admin?x", "", false},
		{"/admin#x", "", false},
		{"/admin\x00", "", false},
		{"/admin\x7f", "", false},
		{"/\xff", "", false},
	} {
		got, err := store.RulePrefix(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("RulePrefix(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
