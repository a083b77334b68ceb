package ocspcache_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/ocspcache"
)

// startOpenSSL runs `openssl ocsp` as a responder for root on a loopback
// port, with index lines as its certificate database, until the test ends.
func startOpenSSL(t *testing.T, root *testpki.Cert, index string) string {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed (.ci/run installs it)")
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(openssl, "ocsp", "-index", write("index.txt", []byte(index)), "-port", strconv.Itoa(port),
		"-rsigner", write("ca.pem", root.PEM()), "-rkey", write("ca.key", root.KeyPEM()), "-CA", filepath.Join(dir, "ca.pem"),
		"-nmin", "60", "-ignore_err")
	// It says when it listens. (A probe connection would not do: it
	// serves one connection at a time, and a closed probe stalls it.)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready, read := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-read; _ = cmd.Wait() })
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "waiting for OCSP client connections") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("openssl ocsp did not start listening")
	}
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// TestOpenSSLResponder: an independent responder, `openssl ocsp`,
// answers the cache's GET requests and its POSTed requests with a nonce,
// for an intermediate issuer signing with its own key (OpenSSL embeds its
// certificate in every answer).
func TestOpenSSLResponder(t *testing.T) {
	root := testpki.NewRoot(t, "OpenSSL Responder Root", testpki.Options{}).Intermediate(t, "OpenSSL Responder Issuing", testpki.Options{})
	good, revoked := root.Leaf(t, "good", testpki.Options{}), root.Leaf(t, "revoked", testpki.Options{})
	exp := good.Cert.NotAfter.UTC().Format("060102150405Z")
	url := startOpenSSL(t, root, fmt.Sprintf("V\t%s\t\t%X\tunknown\t/CN=good\nR\t%s\t%s,keyCompromise\t%X\tunknown\t/CN=revoked\n",
		exp, good.Cert.SerialNumber, exp, time.Now().Add(-time.Hour).UTC().Format("060102150405Z"), revoked.Cert.SerialNumber))
	c := newCache(t, ocspcache.Options{})
	for _, tc := range []struct {
		leaf   *testpki.Cert
		nonce  bool
		status ocspcache.Status
	}{
		{good, false, ocspcache.Good},
		{revoked, false, ocspcache.Revoked},
		{root.Leaf(t, "not in the index", testpki.Options{}), true, ocspcache.Unknown},
	} {
		res := c.Lookup(within(10*time.Second), query(tc.leaf, root, url, tc.nonce), time.Now())
		if res.Status != tc.status {
			t.Fatalf("%s: %+v, want %s", tc.leaf.Cert.Subject.CommonName, res, tc.status)
		}
	}
}
