package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// The build the tests stamp: a fixed time and labels, so that two builds
// must come out the same.
const (
	testEpoch    = 1700000000
	testVersion  = "v0.0.0-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
)

// tool is the command built once (without -race, as `make image` runs it)
// for the tests that run it the way the Makefile does.
var tool string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mtlsgate-image-test-")
	if err != nil {
		panic(err)
	}
	tool = filepath.Join(dir, "image")
	c := exec.Command("go", "build", "-o", tool, ".")
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the image command:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runTool runs the image command into out with the test's stamps.
func runTool(t *testing.T, out string, args ...string) {
	t.Helper()
	args = append([]string{"-repo", "../..", "-out", out, "-platforms", "linux/" + runtime.GOARCH,
		"-version", testVersion, "-revision", testRevision}, args...)
	c := exec.Command(tool, args...)
	c.Env = append(os.Environ(), fmt.Sprintf("SOURCE_DATE_EPOCH=%d", testEpoch))
	outb, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("image %v: %v\n%s", args, err, outb)
	}
	t.Logf("image: %s", bytes.TrimSpace(outb))
}

// TestImage builds the image as `make image` does, reads the layout back,
// checks its configuration and files, then runs the binary taken out of
// it: --help, serve --help, and serve until /healthz answers.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "layout")
	runTool(t, layoutDir)
	img := readLayout(t, layoutDir, "latest", runtime.GOARCH)
	checkConfig(t, img, runtime.GOARCH)
	files := checkFiles(t, img)

	bin := filepath.Join(dir, "mtlsgate")
	if err := os.WriteFile(bin, files[strings.TrimPrefix(binPath, "/")], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(bin, runtime.GOARCH); err != nil {
		t.Fatal(err)
	}

	// The same inputs make the same image, byte for byte: assembled again
	// from the binary taken out of the first, into another directory.
	again := filepath.Join(dir, "again")
	runTool(t, again, "-binary", bin)
	if a, b := readFile(t, layoutDir, "index.json"), readFile(t, again, "index.json"); !bytes.Equal(a, b) {
		t.Errorf("a second build of the same binary differs:\n%s\n%s", a, b)
	}

	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("help", func(t *testing.T) { runHelp(t, bin) })
	t.Run("version", func(t *testing.T) { runVersion(t, bin) })
	t.Run("serve", func(t *testing.T) { runServe(t, bin, cfg.Config) })
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readLayout opens the layout and returns the image index.json names,
// after checking that it names exactly one, tagged tag, for linux/arch.
func readLayout(t *testing.T, dir, tag, arch string) v1.Image {
	t.Helper()
	var ol struct{ ImageLayoutVersion string }
	if err := json.Unmarshal(readFile(t, dir, "oci-layout"), &ol); err != nil || ol.ImageLayoutVersion != "1.0.0" {
		t.Errorf("oci-layout: %+v, %v", ol, err)
	}
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json names %d things, want 1", len(im.Manifests))
	}
	d := im.Manifests[0]
	if d.MediaType != types.OCIManifestSchema1 || d.Annotations[refNameAnnotation] != tag ||
		d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != arch {
		t.Fatalf("index.json's entry: %+v", d)
	}
	img, err := ii.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("the image does not validate: %v", err)
	}
	return img
}

// checkConfig holds the image's configuration to spec.go, and the ports to
// README's "Ports".
func checkConfig(t *testing.T, img v1.Image, arch string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c, epoch := cf.Config, time.Unix(testEpoch, 0).UTC()
	if cf.OS != "linux" || cf.Architecture != arch || !cf.Created.Equal(epoch) {
		t.Errorf("platform %s/%s, created %s", cf.OS, cf.Architecture, cf.Created)
	}
	if c.User != "65532:65532" || strings.HasPrefix(c.User, "0:") || strings.HasPrefix(c.User, "root") {
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/mtlsgate"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
		t.Errorf("entrypoint %q, cmd %q", c.Entrypoint, c.Cmd)
	}
	if c.WorkingDir != "/var/lib/mtlsgate" || len(c.Volumes) != 1 || c.Volumes["/var/lib/mtlsgate"] != struct{}{} {
		t.Errorf("working dir %q, volumes %v", c.WorkingDir, c.Volumes)
	}
	if !slices.Contains(c.Env, "MTLSGATE_DATA=/var/lib/mtlsgate") {
		t.Errorf("env %q does not put the data in the volume", c.Env)
	}
	var exposed []string
	for p := range c.ExposedPorts {
		exposed = append(exposed, p)
	}
	slices.Sort(exposed)
	if want := readmePorts(t); !slices.Equal(exposed, want) {
		t.Errorf("exposed ports %v, README's Ports names %v", exposed, want)
	}
	want := map[string]string{
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testRevision,
		"org.opencontainers.image.source":   "https://github.com/mtlsgate/mtlsgate",
		"org.opencontainers.image.created":  "2023-11-14T22:13:20Z",
	}
	for k, v := range want {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	for _, h := range cf.History {
		if !h.Created.Equal(epoch) {
			t.Errorf("history %q created %s", h.CreatedBy, h.Created)
		}
	}
}

// readmePorts are the ports of README's "Ports" table that mtlsgate itself
// listens on (rows starting with a loopback address), as NNNN/tcp.
func readmePorts(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Ports\n")
	if !ok {
		t.Fatal(`README.md has no "## Ports" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var ports []string
	for _, m := range regexp.MustCompile("(?m)^\\| `127\\.0\\.0\\.1:(\\d+)`").FindAllStringSubmatch(section, -1) {
		ports = append(ports, m[1]+"/tcp")
	}
	if len(ports) == 0 {
		t.Fatal("README's Ports table names no port of mtlsgate")
	}
	slices.Sort(ports)
	return ports
}

// shells are names of programs that make a shell.
var shells = []string{"sh", "bash", "dash", "ash", "zsh", "busybox", "toybox"}

// checkFiles reads the image's filesystem (every layer, flattened) and
// returns its regular files by name, after checking each entry's type,
// owner, mode and time, and that there is no shell.
func checkFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files, headers := map[string][]byte{}, map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		headers[name] = h
		if slices.Contains(shells, path.Base(name)) || strings.HasPrefix(name, "bin") {
			t.Errorf("the image has %s: no shell is wanted", h.Name)
		}
		if !h.ModTime.Equal(time.Unix(testEpoch, 0)) {
			t.Errorf("%s: mtime %s", name, h.ModTime)
		}
		if h.Typeflag == tar.TypeReg {
			if files[name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkEntries(t, headers)
	if !regexp.MustCompile(`(?m)^mtlsgate:x:65532:65532:`).Match(files["etc/passwd"]) {
		t.Errorf("/etc/passwd has no line for 65532:\n%s", files["etc/passwd"])
	}
	return files
}

// checkEntries holds the image's entries to what they must be: only the
// files listed, each with its type, owner and mode.
func checkEntries(t *testing.T, headers map[string]*tar.Header) {
	t.Helper()
	type want struct {
		dir      bool
		mode     int64
		uid, gid int
	}
	wants := map[string]want{
		"etc": {true, 0o755, 0, 0}, "etc/passwd": {false, 0o644, 0, 0}, "etc/group": {false, 0o644, 0, 0},
		"tmp": {true, 0o1777, 0, 0}, "usr": {true, 0o755, 0, 0}, "usr/local": {true, 0o755, 0, 0},
		"usr/local/bin": {true, 0o755, 0, 0}, "usr/local/bin/mtlsgate": {false, 0o755, 0, 0},
		"var": {true, 0o755, 0, 0}, "var/lib": {true, 0o755, 0, 0}, "var/lib/mtlsgate": {true, 0o700, 65532, 65532},
	}
	if _, err := os.Stat(defaultCABundle); err == nil {
		wants["etc/ssl"], wants["etc/ssl/certs"] = want{true, 0o755, 0, 0}, want{true, 0o755, 0, 0}
		wants["etc/ssl/certs/ca-certificates.crt"] = want{false, 0o644, 0, 0}
	}
	for name, h := range headers {
		w, ok := wants[name]
		if !ok {
			t.Errorf("unexpected %s in the image", name)
			continue
		}
		delete(wants, name)
		if got := (want{h.Typeflag == tar.TypeDir, h.Mode, h.Uid, h.Gid}); got != w {
			t.Errorf("%s: %+v, want %+v", name, got, w)
		}
	}
	for name := range wants {
		t.Errorf("%s is missing from the image", name)
	}
}
