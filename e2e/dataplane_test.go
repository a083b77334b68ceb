package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/e2e/internal/standin"
	"github.com/mtlsgate/mtlsgate/envoy"
)

// dataPlane is what carries traffic: real Envoy when ENVOY_BIN names one,
// else the stand-in of e2e/internal/standin (an Envoy substitute for tests only).
type dataPlane interface {
	// errors lists configuration the data plane rejected or could not
	// serve; a test fails on any.
	errors() []error
	stop()
}

// ports are the fixed loopback ports of one test deployment. They are
// picked up front because the data plane's bootstrap names the xDS
// address, and the listener addresses come from mtlsgate's config.
type ports struct {
	admin, authz, xds, https, http, envoyAdmin int
}

func freePorts(t *testing.T) ports {
	t.Helper()
	var p [6]int
	for i := range p {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		p[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports{p[0], p[1], p[2], p[3], p[4], p[5]}
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// serveConfig writes mtlsgate's config for a deployment on p.
func serveConfig(t *testing.T, dir string, p ports) string {
	t.Helper()
	cfg := fmt.Sprintf("admin_addr: %s\nauthz_addr: %s\nxds_addr: %s\nauthz:\n  decision_log: all\nxds:\n  https_addr: %s\n  http_addr: %s\n  https_port: %d\n",
		addr(p.admin), addr(p.authz), addr(p.xds), addr(p.https), addr(p.http), p.https)
	return writeFile(t, dir, "mtlsgate.yaml", []byte(cfg))
}

// startDataPlane starts Envoy or the stand-in against in, both from the
// bootstrap the real CLI writes (writeBootstrap).
func startDataPlane(t *testing.T, in *instance, dir string, p ports) dataPlane {
	t.Helper()
	if bin := os.Getenv("ENVOY_BIN"); bin != "" {
		return startEnvoy(t, bin, writeBootstrap(t, in, dir, p, "envoy-e2e"))
	}
	t.Log("ENVOY_BIN is not set: using the Envoy stand-in (e2e/internal/standin)")
	ctx, cancel := context.WithCancel(context.Background())
	sp, err := standin.Start(ctx, standin.Options{
		Bootstrap:     writeBootstrap(t, in, dir, p, "standin-1"),
		ListenerAddrs: map[string]string{"https": addr(p.https), "http": addr(p.http)},
		Logf:          t.Logf,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	d := &standinPlane{p: sp, cancel: cancel}
	t.Cleanup(d.stop)
	return d
}

// writeBootstrap writes a data plane's bootstrap with the real CLI, as an
// operator would, and returns its path. Against a server with TLS (it
// wrote <data>/ca.pem, its internal CA) that is
// "mtlsgate envoy bootstrap --out DIR": the server issues the node's
// certificate and the bootstrap uses it for both xDS and ext_authz.
// Against a plaintext server it is --insecure-plaintext.
func writeBootstrap(t *testing.T, in *instance, dir string, p ports, node string) string {
	t.Helper()
	out := filepath.Join(dir, "envoy-"+node)
	args := []string{"envoy", "bootstrap", "--node-id", node, "--cluster", "e2e",
		"--xds", addr(p.xds), "--authz", addr(p.authz), "--admin", addr(p.envoyAdmin)}
	if _, err := os.Stat(filepath.Join(in.data, "ca.pem")); err == nil {
		in.cli(t, append(args, "--out", out)...)
		return filepath.Join(out, envoy.BootstrapFile)
	}
	boot := in.cli(t, append(args, "--insecure-plaintext")...)
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, out, envoy.BootstrapFile, []byte(boot+"\n"))
}

type standinPlane struct {
	p      *standin.Proxy
	cancel context.CancelFunc
}

func (s *standinPlane) errors() []error { return s.p.Errors() }
func (s *standinPlane) stop()           { s.cancel(); _ = s.p.Close() }

// envoyPlane is a real Envoy process.
type envoyPlane struct {
	cmd  *exec.Cmd
	done chan error
}

func startEnvoy(t *testing.T, bin, bootstrap string) dataPlane {
	t.Helper()
	cmd := exec.Command(bin, "-c", bootstrap, "--use-dynamic-base-id", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &envoyPlane{cmd: cmd, done: make(chan error, 1)}
	go func() { e.done <- cmd.Wait() }()
	t.Cleanup(e.stop)
	return e
}

func (e *envoyPlane) errors() []error {
	select {
	case err := <-e.done:
		return []error{fmt.Errorf("envoy exited: %v", err)}
	default:
		return nil
	}
}

func (e *envoyPlane) stop() {
	_ = e.cmd.Process.Kill()
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
	}
}

// serveAt starts mtlsgate with the deployment's config.
func serveAt(t *testing.T, dir string, p ports) *instance {
	t.Helper()
	return serveArgs(t, filepath.Join(dir, "data"), "--config", serveConfig(t, dir, p),
		"--admin-addr", addr(p.admin), "--authz-addr", addr(p.authz), "--xds-addr", addr(p.xds))
}
