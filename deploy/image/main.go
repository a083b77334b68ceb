// Command image writes mtlsgate's container image as an OCI image layout,
// without a Docker daemon and without a base image: `make image`, or
//
//	go run -C deploy/image . -repo "$PWD" -out "$PWD/bin/image"
//
// It builds a static binary of ./cmd/mtlsgate for each platform and
// assembles, FROM scratch, an image running it as 65532:65532 (spec.go).
// Every timestamp is the commit's (or SOURCE_DATE_EPOCH), so one commit
// makes the same image, digest for digest.
//
// This is its own module (deploy/image/go.mod) so that
// github.com/google/go-containerregistry and what it requires stay out of
// the product's go.mod, and out of tools/go.mod too, whose versions follow
// the pinned developer tools (buf, etcd, staticcheck) and move when they do.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// defaultCABundle is the build machine's CA bundle the image takes when the
// flag is left alone (and left out, with a note, when it is absent).
const defaultCABundle = "/etc/ssl/certs/ca-certificates.crt"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	repo, out, tag, caBundle, goCmd string
	binary                          string
	arches                          []string
	version, revision               string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.repo, "repo", "../..", "root of the mtlsgate repository")
	fs.StringVar(&o.out, "out", "", "directory the OCI layout is written to (an earlier layout there is replaced)")
	platforms := fs.String("platforms", "linux/amd64", "comma-separated platforms to build: linux/amd64, linux/arm64")
	fs.StringVar(&o.tag, "tag", "latest", "the image's name in the layout (org.opencontainers.image.ref.name)")
	fs.StringVar(&o.caBundle, "ca-bundle", defaultCABundle, "CA certificates (PEM) put in the image for HTTPS CRL and OCSP fetches; empty for none")
	fs.StringVar(&o.goCmd, "go", "go", "the go command")
	fs.StringVar(&o.binary, "binary", "", "a static linux binary of mtlsgate to use instead of building one (one platform only)")
	fs.StringVar(&o.version, "version", "", "org.opencontainers.image.version label (default: git describe --tags --always --dirty)")
	fs.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision label (default: the commit)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if o.out == "" || fs.NArg() > 0 {
		return options{}, errors.New("usage: image -out DIR [-repo DIR] [-platforms linux/amd64,linux/arm64] [-tag TAG]")
	}
	for _, p := range strings.Split(*platforms, ",") {
		arch, ok := strings.CutPrefix(strings.TrimSpace(p), "linux/")
		if _, known := elfMachines[arch]; !ok || !known {
			return options{}, fmt.Errorf("platform %q: only linux/amd64 and linux/arm64 are built", p)
		}
		o.arches = append(o.arches, arch)
	}
	if o.binary != "" && len(o.arches) != 1 {
		return options{}, errors.New("-binary takes one platform")
	}
	return o, nil
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "image:", err)
		return 2
	}
	if err := build(o, getenv, stdout); err != nil {
		fmt.Fprintln(stderr, "image:", err)
		return 1
	}
	return 0
}

// build makes the binaries and writes the layout.
func build(o options, getenv func(string) string, stdout io.Writer) error {
	m, err := gitMeta(o.repo, getenv)
	if err != nil {
		return err
	}
	if o.version != "" {
		m.Version = o.version
	}
	if o.revision != "" {
		m.Revision = o.revision
	}
	caBundle, err := readCABundle(o.caBundle, stdout)
	if err != nil {
		return err
	}
	base, err := baseLayer(caBundle, m)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "mtlsgate-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var images []archImage
	for _, arch := range o.arches {
		img, err := archBuild(o, arch, tmp, base, m)
		if err != nil {
			return err
		}
		images = append(images, archImage{arch: arch, img: img})
	}
	desc, err := writeLayout(o.out, images, o.tag)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: mtlsgate %s (%s) for %s, %s %s, tagged %q\n",
		o.out, m.Version, m.Created.Format("2006-01-02T15:04:05Z"), strings.Join(o.arches, ", "), desc.MediaType, desc.Digest, o.tag)
	return nil
}

// archBuild builds the binary for arch in tmp (or takes -binary) and
// assembles its image.
func archBuild(o options, arch, tmp string, base v1.Layer, m meta) (v1.Image, error) {
	bin := o.binary
	if bin == "" {
		bin = filepath.Join(tmp, "mtlsgate-"+arch)
		if err := goBuild(o.goCmd, o.repo, arch, bin); err != nil {
			return nil, err
		}
	} else if err := checkStatic(bin, arch); err != nil {
		return nil, err
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	return buildImage(arch, base, binary, m)
}

// readCABundle reads the CA bundle; the default one may be absent (the
// image then has none, and says so), a named one may not.
func readCABundle(path string, stdout io.Writer) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && path == defaultCABundle {
		fmt.Fprintf(stdout, "note: %s is absent: the image has no CA certificates (HTTPS CRL and OCSP fetches will fail)\n", path)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	return b, nil
}
