package cli

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestReadVersion: the version, commit, commit time and dirty flag come
// from the build information; without it, what the running binary knows.
func TestReadVersion(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/mtlsgate/mtlsgate", Version: "v1.2.0"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want buildVersion
	}{
		{"stamped", stamped, true, buildVersion{Version: "v1.2.0", Commit: "0123abcd", CommitTime: "2026-12-01T10:00:00Z",
			Modified: true, GoVersion: "go1.26.8", Platform: platform}},
		{"clean tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261201100000-0123abcd0123"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd0123"}, {Key: "vcs.modified", Value: "false"}}}, true,
			buildVersion{Version: "v0.0.0-20261201100000-0123abcd0123", Commit: "0123abcd0123", GoVersion: "go1.26.8", Platform: platform}},
		{"no vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true,
			buildVersion{Version: "(devel)", GoVersion: "go1.26.8", Platform: platform}},
		{"no build info", nil, false, buildVersion{Version: "unknown", GoVersion: runtime.Version(), Platform: platform}},
	} {
		if got := readVersion(tc.bi, tc.ok); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestVersionOutputs: version as lines, JSON and the version alone.
func TestVersionOutputs(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "false"}}}
	run := func(args ...string) string {
		t.Helper()
		r, stdout, stderr := testRunner(&fakeAPI{}, testEnv{})
		r.buildInfo = func() (*debug.BuildInfo, bool) { return bi, true }
		if code := r.main(t.Context(), args); code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
		return stdout.String()
	}
	table := run("version")
	for _, want := range []string{"Version:      v1.2.0\n", "Commit:       0123abcd\n", "Commit time:  2026-12-01T10:00:00Z\n",
		"Modified:     no\n", "Go:           go1.26.8\n"} {
		if !strings.Contains(table, want) {
			t.Errorf("version lacks %q:\n%s", want, table)
		}
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(run("--version", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got["version"] != "v1.2.0" || got["commit"] != "0123abcd" || got["modified"] != false || got["go_version"] != "go1.26.8" {
		t.Errorf("JSON: %v", got)
	}
	if out := run("version", "-o", "id"); out != "v1.2.0\n" {
		t.Errorf("-o id: %q", out)
	}
	if unstamped := strings.Join(fieldValues(versionFields(buildVersion{Version: "(devel)"})), "|"); !strings.Contains(unstamped, "not recorded") {
		t.Errorf("no commit: %q, want it said why", unstamped)
	}
}

// fieldValues lists the values of fields.
func fieldValues(fields []field) []string {
	var out []string
	for _, f := range fields {
		out = append(out, f.value)
	}
	return out
}
