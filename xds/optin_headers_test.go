package xds_test

import (
	"path/filepath"
	"slices"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestOptInHeaderNamesStrippedOnPlainHTTP: the names a site gives its
// opt-in origin header fields (issue 15) are stripped from plain HTTP
// requests like its other names; a site without them strips none.
func TestOptInHeaderNamesStrippedOnPlainHTTP(t *testing.T) {
	st := withSite(loadState(t, filepath.Join("testdata", "in", "modes.yaml")), "app.example.net", func(s *pb.Site) {
		if s.Settings.Headers == nil {
			s.Settings.Headers = map[string]string{}
		}
		s.Settings.Headers["subject_cn"] = "x-cn"
		s.Settings.Headers["days_left"] = "x-days-left"
		s.Settings.Headers["subject_oid.2.5.4.5"] = "x-subject-serial"
	})
	r := translate(t, st)
	if len(r.SiteErrors) > 0 {
		t.Fatalf("site errors: %v", r.SiteErrors)
	}
	for host, vh := range plainHosts(t, r) {
		for _, n := range []string{"x-cn", "x-days-left", "x-subject-serial"} {
			if removed := slices.Contains(vh.GetRequestHeadersToRemove(), n); removed != (host == "app.example.net") {
				t.Errorf("%s: %s removed=%v", host, n, removed)
			}
		}
	}
}
