package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"embed"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// rootfs holds the files the image takes as they are; the Dockerfile
// copies the same files.
//
//go:embed rootfs/etc/passwd rootfs/etc/group
var rootfs embed.FS

// entry is one file or directory of a layer.
type entry struct {
	name     string // relative to /, no trailing slash
	mode     int64  // permission bits, sticky bit included
	uid, gid int
	dir      bool
	body     []byte
}

func dirEntry(name string, mode int64) entry { return entry{name: name, mode: mode, dir: true} }

func fileEntry(name string, mode int64, body []byte) entry {
	return entry{name: name, mode: mode, body: body}
}

// baseEntries are the image's files besides the binary: the user, a /tmp,
// the data directory owned by the user, the directories the binary goes
// in, and the CA bundle when there is one (nil: none).
func baseEntries(caBundle []byte) ([]entry, error) {
	es := []entry{
		dirEntry("etc", 0o755),
		dirEntry("tmp", 0o1777),
		dirEntry("usr", 0o755), dirEntry("usr/local", 0o755), dirEntry("usr/local/bin", 0o755),
		dirEntry("var", 0o755), dirEntry("var/lib", 0o755),
		{name: strings.TrimPrefix(dataDir, "/"), mode: 0o700, uid: uid, gid: gid, dir: true},
	}
	for _, name := range []string{"etc/passwd", "etc/group"} {
		body, err := rootfs.ReadFile("rootfs/" + name)
		if err != nil {
			return nil, fmt.Errorf("reading embedded %s: %w", name, err)
		}
		es = append(es, fileEntry(name, 0o644, body))
	}
	if caBundle != nil {
		if !x509.NewCertPool().AppendCertsFromPEM(caBundle) {
			return nil, fmt.Errorf("the CA bundle holds no PEM certificate")
		}
		es = append(es, dirEntry("etc/ssl", 0o755), dirEntry("etc/ssl/certs", 0o755),
			fileEntry(strings.TrimPrefix(caBundlePath, "/"), 0o644, caBundle))
	}
	return es, nil
}

// binaryEntries is the layer holding the binary.
func binaryEntries(binary []byte) []entry {
	return []entry{fileEntry(strings.TrimPrefix(binPath, "/"), 0o755, binary)}
}

// tarLayer writes entries as an uncompressed tar, sorted by name (parents
// first), owned by number only, every time mtime: the same entries always
// make the same bytes.
func tarLayer(entries []entry, mtime time.Time) ([]byte, error) {
	es := slices.Clone(entries)
	slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, e := range es {
		if i > 0 && es[i-1].name == e.name {
			return nil, fmt.Errorf("layer: %s twice", e.name)
		}
		if e.name == "" || path.Clean(e.name) != e.name || strings.HasPrefix(e.name, "/") {
			return nil, fmt.Errorf("layer: bad path %q", e.name)
		}
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(e.body)), Format: tar.FormatPAX,
		}
		if e.dir {
			h.Name, h.Typeflag, h.Size = e.name+"/", tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// gzipLayer makes an OCI layer (gzip, best compression) of a tar. The
// compressed bytes are made once and kept: computing the digest and
// writing the blob then read the same bytes.
func gzipLayer(tarBytes []byte) (v1.Layer, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(tarBytes); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	compressed := gz.Bytes()
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(compressed)), nil }
	l, err := tarball.LayerFromOpener(open, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return l, nil
}
