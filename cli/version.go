package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildVersion is what mtlsgate version prints: where the binary came
// from, as the Go toolchain recorded it in the binary.
type buildVersion struct {
	// Version is the main module's version: a tag such as v1.2.0, a
	// pseudo-version the toolchain derived from the commit (with
	// "+dirty" when the tree had changes), or "(devel)".
	Version string `json:"version"`
	// Commit and CommitTime (RFC 3339) are the VCS revision built, when
	// the toolchain recorded one (go build in a git checkout does).
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	// Modified is true when the tree had uncommitted changes.
	Modified bool `json:"modified"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// readVersion extracts a buildVersion from the build information of the
// running binary (ok false: none was embedded).
func readVersion(bi *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: "unknown", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok || bi == nil {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// versionFields are the table lines of version.
func versionFields(v buildVersion) []field {
	commit, when, modified := v.Commit, v.CommitTime, yesNo(v.Modified)
	if commit == "" {
		commit, when, modified = "not recorded (built outside a git checkout, or with -buildvcs=false)", "-", "-"
	}
	return []field{
		{key: "Version", value: v.Version},
		{key: "Commit", value: commit},
		{key: "Commit time", value: when},
		{key: "Modified", value: modified},
		{key: "Go", value: v.GoVersion},
		{key: "Platform", value: v.Platform},
	}
}

// versionCmd is "version" (and --version): the build information, as
// key: value lines, JSON with -o json, or the version alone with -o id.
func versionCmd(*flag.FlagSet) action {
	return func(_ context.Context, s *session, _ []string) error {
		read := s.r.buildInfo
		if read == nil {
			read = debug.ReadBuildInfo
		}
		v := readVersion(read())
		switch s.cfg.output {
		case "json":
			return writePlainJSON(s.r.stdout, v)
		case "id":
			_, err := fmt.Fprintln(s.r.stdout, v.Version)
			return err
		}
		return writeVersion(s.r.stdout, v)
	}
}

// writeVersion writes the table form of version.
func writeVersion(w io.Writer, v buildVersion) error {
	return writeFields(w, versionFields(v))
}
