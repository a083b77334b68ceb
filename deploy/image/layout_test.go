package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var testMeta = meta{Version: testVersion, Revision: testRevision, Created: time.Unix(testEpoch, 0).UTC()}

// TestMultiArchLayout writes two architectures (stand-in binaries: no go
// build here) and reads back one image index, tagged, whose images each
// carry their architecture and their own binary.
func TestMultiArchLayout(t *testing.T) {
	base, err := baseLayer(nil, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	var images []archImage
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := buildImage(arch, base, []byte("binary for "+arch), testMeta)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, archImage{arch, img})
	}
	dir := filepath.Join(t.TempDir(), "layout")
	desc, err := writeLayout(dir, images, "v1")
	if err != nil {
		t.Fatal(err)
	}
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].MediaType != types.OCIImageIndex ||
		im.Manifests[0].Annotations[refNameAnnotation] != "v1" || im.Manifests[0].Digest != desc.Digest {
		t.Fatalf("index.json: %+v", im.Manifests)
	}
	inner, err := ii.ImageIndex(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(inner); err != nil {
		t.Fatal(err)
	}
	m, err := inner.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var arches []string
	for _, d := range m.Manifests {
		arches = append(arches, d.Platform.Architecture)
		checkArchImage(t, inner, d)
	}
	if !slices.Equal(arches, []string{"amd64", "arm64"}) {
		t.Errorf("platforms %v", arches)
	}
}

// checkArchImage checks that the image d names is for d's architecture and
// holds that architecture's binary.
func checkArchImage(t *testing.T, ii v1.ImageIndex, d v1.Descriptor) {
	t.Helper()
	img, err := ii.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if d.Platform.OS != "linux" || cf.Architecture != d.Platform.Architecture || cf.Config.User != user {
		t.Errorf("%s: config %s/%s user %q", d.Platform.Architecture, cf.OS, cf.Architecture, cf.Config.User)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("%d layers, %v", len(layers), err)
	}
	rc, err := layers[1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil || h.Name != "usr/local/bin/mtlsgate" {
		t.Fatalf("binary layer: %v, %v", h, err)
	}
	if b, _ := io.ReadAll(tr); string(b) != "binary for "+d.Platform.Architecture {
		t.Errorf("%s image holds %q", d.Platform.Architecture, b)
	}
}

// TestTarLayerDeterministic: the order entries come in does not matter,
// a duplicate or an unclean path is refused.
func TestTarLayerDeterministic(t *testing.T) {
	es, err := baseEntries(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := tarLayer(es, testMeta.Created)
	if err != nil {
		t.Fatal(err)
	}
	rev := slices.Clone(es)
	slices.Reverse(rev)
	if b, err := tarLayer(rev, testMeta.Created); err != nil || !bytes.Equal(a, b) {
		t.Errorf("entries in another order make another tar (%v)", err)
	}
	if _, err := tarLayer(append(es, es[0]), testMeta.Created); err == nil {
		t.Error("a duplicate entry was accepted")
	}
	for _, bad := range []string{"/etc/x", "etc/../x", "etc/", ""} {
		if _, err := tarLayer([]entry{fileEntry(bad, 0o644, nil)}, testMeta.Created); err == nil {
			t.Errorf("path %q was accepted", bad)
		}
	}
	if _, err := baseEntries([]byte("not PEM")); err == nil {
		t.Error("a CA bundle without a certificate was accepted")
	}
}

// TestClearLayout: an earlier layout is replaced whole (no stale blob
// stays), anything else is left alone.
func TestClearLayout(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := clearLayout(other); err == nil || !strings.Contains(err.Error(), "not replacing") {
		t.Errorf("a directory that is not a layout: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Errorf("the other directory was touched: %v", err)
	}
	old := filepath.Join(dir, "old")
	for _, f := range []string{"oci-layout", "index.json", "blobs/sha256/stale"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(old, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(old, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := clearLayout(old); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old layout is still there: %v", err)
	}
	if err := clearLayout(filepath.Join(dir, "absent")); err != nil {
		t.Errorf("an absent directory: %v", err)
	}
}

// TestParseFlags: platforms are checked, -binary takes one.
func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-out", "x", "-platforms", "linux/amd64, linux/arm64"}, io.Discard)
	if err != nil || !slices.Equal(o.arches, []string{"amd64", "arm64"}) {
		t.Errorf("two platforms: %v, %v", o.arches, err)
	}
	for _, args := range [][]string{
		{"-out", "x", "-platforms", "linux/riscv64"},
		{"-out", "x", "-platforms", "windows/amd64"},
		{"-out", "x", "-platforms", "linux/amd64,linux/arm64", "-binary", "b"},
		{"-platforms", "linux/amd64"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v was accepted", args)
		}
	}
}
