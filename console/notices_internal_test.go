package console

import (
	"net/http/httptest"
	"testing"
)

// TestListNoticeNeedsTheList: the CA list's notices say only what the
// list bears out.
func TestListNoticeNeedsTheList(t *testing.T) {
	rows := []caRow{{Name: "partner"}}
	for _, c := range []struct{ query, want string }{
		{"?uploaded=partner", "Client CA partner is uploaded."},
		{"?uploaded=other", ""},
		{"?deleted=other", "Client CA other is deleted."},
		{"?deleted=partner", ""},
		{"", ""},
	} {
		if got := listNotice(httptest.NewRequest("GET", "/ui/cas"+c.query, nil), rows); got != c.want {
			t.Errorf("%s: %q, want %q", c.query, got, c.want)
		}
	}
}
