package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestVersionFromTheBuild builds the binary in this git checkout, as
// make build does but with VCS stamping forced on (a machine's go env may
// turn it off), and checks that version reports the commit it was built
// from, the Go that built it and where it came from, in both spellings.
func TestVersionFromTheBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if err := exec.Command("git", "rev-parse", "HEAD").Run(); err != nil {
		t.Skipf("not in a git checkout, or git is missing (%v): nothing to stamp", err)
	}
	bin := filepath.Join(t.TempDir(), "mtlsgate")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("--version -o json: %v", err)
	}
	var v struct {
		Version    string `json:"version"`
		Commit     string `json:"commit"`
		CommitTime string `json:"commit_time"`
		GoVersion  string `json:"go_version"`
		Modified   *bool  `json:"modified"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(v.Commit) || v.CommitTime == "" || v.Modified == nil {
		t.Fatalf("no commit recorded: %s", out)
	}
	if err := exec.Command("git", "cat-file", "-e", v.Commit+"^{commit}").Run(); err != nil {
		t.Errorf("commit %s is not in this repository: %v", v.Commit, err)
	}
	if v.GoVersion != runtime.Version() || v.Version == "" || v.Version == "unknown" {
		t.Errorf("version %q, Go %q (want %s): %s", v.Version, v.GoVersion, runtime.Version(), out)
	}
	table, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(table), "Commit:       "+v.Commit+"\n") {
		t.Errorf("version: %v\n%s", err, table)
	}
}
