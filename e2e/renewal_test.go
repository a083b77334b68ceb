package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/envoy"
)

// TestNodeRenewal: against a server with TLS, running
// "mtlsgate envoy bootstrap --out" again renews the data plane's node
// certificate in place, and requests keep passing meanwhile. (Skipped
// against a plaintext server: its nodes have no certificate.)
func TestNodeRenewal(t *testing.T) {
	d := deploy(t)
	if _, err := os.Stat(filepath.Join(d.in.data, "ca.pem")); err != nil {
		t.Skip("the server runs without TLS: no node certificate to renew")
	}
	node := "standin-1"
	if os.Getenv("ENVOY_BIN") != "" {
		node = "envoy-e2e"
	}
	dir := filepath.Join(d.dir, "envoy-"+node)
	before := readNodeCert(t, dir)

	stop, failed := make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(failed)
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, _, err := d.c.get("enforce.example.com", "enforce.example.com", "/", d.alice, nil)
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			if err != nil {
				failed <- err
				return
			}
		}
	}()
	writeBootstrap(t, d.in, d.dir, d.p, node)
	after := readNodeCert(t, dir)
	if after.Equal(before) {
		t.Fatal("the certificate was not renewed")
	}
	if sp, ok := d.dp.(*standinPlane); ok {
		eventually(t, 10*time.Second, "the stand-in loads the renewed certificate", func() bool {
			c := sp.p.Certificate(envoy.NodeSecretName)
			return c != nil && c.Equal(after)
		})
	}
	time.Sleep(200 * time.Millisecond) // requests after the reload too
	close(stop)
	if err := <-failed; err != nil {
		t.Fatalf("a request failed during the renewal: %v", err)
	}
}

// readNodeCert reads the node certificate of a bootstrap directory.
func readNodeCert(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, envoy.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", envoy.CertFile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
