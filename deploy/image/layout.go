package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// refNameAnnotation tags the image in the layout's index.json, the name
// `skopeo copy oci:DIR:TAG` and `podman pull oci:DIR:TAG` look for.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// archImage is the image of one architecture.
type archImage struct {
	arch string
	img  v1.Image
}

// buildImage assembles the image of one architecture from the base layer
// (shared by every architecture) and the binary.
func buildImage(arch string, base v1.Layer, binary []byte, m meta) (v1.Image, error) {
	tarBytes, err := tarLayer(binaryEntries(binary), m.Created)
	if err != nil {
		return nil, err
	}
	bin, err := gzipLayer(tarBytes)
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.ConfigFile(img, configFile(arch, m)); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: history(m, "/etc/passwd, /etc/group, CA certificates, /tmp, "+dataDir)},
		mutate.Addendum{Layer: bin, History: history(m, binPath)})
	if err != nil {
		return nil, fmt.Errorf("image layers: %w", err)
	}
	return img, nil
}

// baseLayer is the layer of everything but the binary.
func baseLayer(caBundle []byte, m meta) (v1.Layer, error) {
	es, err := baseEntries(caBundle)
	if err != nil {
		return nil, err
	}
	tarBytes, err := tarLayer(es, m.Created)
	if err != nil {
		return nil, err
	}
	return gzipLayer(tarBytes)
}

// platform is the descriptor's platform of an image.
func platform(arch string) *v1.Platform { return &v1.Platform{OS: "linux", Architecture: arch} }

// writeLayout writes the images as an OCI image layout in dir, replacing
// the layout there. index.json names one thing, tagged tag: the image
// itself when there is one architecture, else an image index of them all.
func writeLayout(dir string, images []archImage, tag string) (v1.Descriptor, error) {
	if len(images) == 0 {
		return v1.Descriptor{}, errors.New("no image to write")
	}
	top := v1.Descriptor{Annotations: map[string]string{refNameAnnotation: tag}}
	var add mutate.Appendable = images[0].img
	if len(images) == 1 {
		top.Platform = platform(images[0].arch)
	} else {
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, ai := range images {
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: ai.img, Descriptor: v1.Descriptor{Platform: platform(ai.arch)}})
		}
		add = idx
	}
	outer := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: add, Descriptor: top})
	if err := clearLayout(dir); err != nil {
		return v1.Descriptor{}, err
	}
	if _, err := layout.Write(dir, outer); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing the layout to %s: %w", dir, err)
	}
	if err := normalizeModes(dir); err != nil {
		return v1.Descriptor{}, err
	}
	m, err := outer.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("layout index: %w", err)
	}
	return m.Manifests[0], nil
}

// clearLayout removes the layout in dir, so that no blob of an earlier
// build stays behind; it refuses a directory that holds something else.
func clearLayout(dir string) error {
	names, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if len(names) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return fmt.Errorf("output %s is neither empty nor an OCI layout; not replacing it", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// normalizeModes makes the layout's files 0644 and its directories 0755,
// whatever the umask and the library's temporary files left (blobs are
// written 0600, index.json 0777 less the umask): the layout is public data.
func normalizeModes(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("layout: %w", err)
		}
		return nil
	})
}
