package main

import (
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// What the image is: these values are the contract the Dockerfile at the
// repository root, docs/deploy.md and the tests hold to.
const (
	// uid and gid run the server: not root, and named in rootfs/etc/passwd.
	uid, gid = 65532, 65532
	// user is the image's User, numeric so that runtimes enforcing
	// runAsNonRoot can tell it is not root without reading /etc/passwd.
	user = "65532:65532"
	// binPath is where the binary is, and the image's entrypoint.
	binPath = "/usr/local/bin/mtlsgate"
	// dataDir holds the bbolt file, admin.token, ca.pem and seal.key: the
	// working directory and the volume.
	dataDir = "/var/lib/mtlsgate"
	// caBundlePath is where the CA certificates for HTTPS CRL and OCSP
	// fetches go, where Go's crypto/x509 looks first on Linux.
	caBundlePath = "/etc/ssl/certs/ca-certificates.crt"
	// sourceURL is the org.opencontainers.image.source label.
	sourceURL = "https://github.com/mtlsgate/mtlsgate"
)

// ports are the image's exposed ports: the Certificate Manager API, ext_authz
// and xDS (README "Ports"); the HTTPS and HTTP listeners are Envoy's.
var ports = []string{"9000/tcp", "9191/tcp", "18000/tcp"}

// env is the image's environment. The listeners take every address of the
// container (the defaults are loopback, useless behind a container's
// network), the data directory is the volume, and the token file set here
// lets `mtlsgate COMMAND` run inside the container (exec) reach the API
// with the first admin token.
var env = []string{
	"MTLSGATE_DATA=" + dataDir,
	"MTLSGATE_ADMIN_ADDR=:9000",
	"MTLSGATE_AUTHZ_ADDR=:9191",
	"MTLSGATE_XDS_ADDR=:18000",
	"MTLSGATE_TOKEN_FILE=" + dataDir + "/admin.token",
}

// entrypoint and cmd: `docker run IMAGE` serves; `docker run IMAGE site
// list` runs the CLI.
var (
	entrypoint = []string{binPath}
	cmd        = []string{"serve"}
)

// meta is what a build stamps on the image.
type meta struct {
	// Version and Revision label the image (git describe, the commit).
	Version, Revision string
	// Created is every timestamp in the image: the commit's time or
	// SOURCE_DATE_EPOCH, so that one commit always makes the same image.
	Created time.Time
}

// labels are the image's OCI annotations as labels.
func labels(m meta) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "mtlsgate",
		"org.opencontainers.image.description": "client-certificate (mTLS) edge for Envoy: xDS control plane, ext_authz server, Certificate Manager API",
		"org.opencontainers.image.source":      sourceURL,
		"org.opencontainers.image.created":     m.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.version":     m.Version,
	}
	if m.Revision != "" {
		l["org.opencontainers.image.revision"] = m.Revision
	}
	return l
}

// configFile is the image configuration for one architecture, before its
// layers are appended.
func configFile(arch string, m meta) *v1.ConfigFile {
	exposed := map[string]struct{}{}
	for _, p := range ports {
		exposed[p] = struct{}{}
	}
	return &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      v1.Time{Time: m.Created},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			User:         user,
			Entrypoint:   entrypoint,
			Cmd:          cmd,
			Env:          env,
			WorkingDir:   dataDir,
			ExposedPorts: exposed,
			Volumes:      map[string]struct{}{dataDir: {}},
			Labels:       labels(m),
			StopSignal:   "SIGTERM",
		},
	}
}

// history describes one layer in the image's history.
func history(m meta, what string) v1.History {
	return v1.History{Created: v1.Time{Time: m.Created}, CreatedBy: fmt.Sprintf("mtlsgate deploy/image: %s", what)}
}
