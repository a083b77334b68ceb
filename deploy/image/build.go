package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// elfMachines are the architectures the image is built for, with the ELF
// machine their binary must carry.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// goBuildFlags are the flags of the image's go build (the Dockerfile's
// too): without the build machine's paths (-trimpath), with the commit
// recorded for `mtlsgate version` whenever the source is a git checkout,
// whatever GOFLAGS says (-buildvcs=auto), symbols and DWARF left out (-s -w;
// panics still print function names and lines).
var goBuildFlags = []string{"-trimpath", "-buildvcs=auto", "-ldflags=-s -w"}

// goBuild builds ./cmd/mtlsgate of the repository at repo for linux/arch
// into out, static (CGO_ENABLED=0), with goBuildFlags. The rest of the
// environment (GOFLAGS, GOTOOLCHAIN, the caches) is the caller's.
func goBuild(goCmd, repo, arch, out string) error {
	if _, ok := elfMachines[arch]; !ok {
		return fmt.Errorf("architecture %q: only amd64 and arm64 are built", arch)
	}
	args := append(append([]string{"build"}, goBuildFlags...), "-o", out, "./cmd/mtlsgate")
	c := exec.Command(goCmd, args...)
	c.Dir = repo
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var stderr bytes.Buffer
	c.Stdout, c.Stderr = &stderr, &stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("go build for linux/%s: %w\n%s", arch, err, stderr.Bytes())
	}
	return checkStatic(out, arch)
}

// checkStatic refuses a binary that is not a static ELF executable for
// arch: the image has no dynamic loader and no libc.
func checkStatic(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	if want := elfMachines[arch]; f.Machine != want {
		return fmt.Errorf("%s: built for %s, not %s", path, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s: dynamically linked (it names an interpreter); build with CGO_ENABLED=0", path)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		return fmt.Errorf("%s: needs shared libraries %v (%v); build with CGO_ENABLED=0", path, libs, err)
	}
	return nil
}

// gitMeta reads the version, revision and time to stamp from the git
// checkout at repo. SOURCE_DATE_EPOCH, when set, is the time; otherwise the
// commit's time. Outside a git checkout the version is "dev", the revision
// empty and the time the epoch's start, unless SOURCE_DATE_EPOCH says.
func gitMeta(repo string, getenv func(string) string) (meta, error) {
	m := meta{Version: "dev", Created: time.Unix(0, 0).UTC()}
	rev, err := git(repo, "rev-parse", "HEAD")
	if err == nil {
		m.Revision = rev
		if m.Version, err = git(repo, "describe", "--tags", "--always", "--dirty"); err != nil {
			return meta{}, err
		}
		ct, err := git(repo, "log", "-1", "--format=%ct")
		if err != nil {
			return meta{}, err
		}
		if m.Created, err = unixTime(ct); err != nil {
			return meta{}, fmt.Errorf("commit time: %w", err)
		}
	}
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		if m.Created, err = unixTime(s); err != nil {
			return meta{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
	}
	return m, nil
}

// git runs one git command in repo and returns its output, trimmed.
func git(repo string, args ...string) (string, error) {
	c := exec.Command("git", append([]string{"-C", repo}, args...)...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(string(out)), nil
}

// unixTime parses seconds since 1970 (UTC).
func unixTime(s string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	if n < 0 {
		return time.Time{}, errors.New("negative")
	}
	return time.Unix(n, 0).UTC(), nil
}
