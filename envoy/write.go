package envoy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// Credentials are a node's PEM credentials as mtlsgate issued them.
type Credentials struct {
	CA   []byte // mtlsgate's CA certificate: verifies the servers
	Cert []byte // the node certificate, leaf first
	Key  []byte // the node's private key
}

// NewNodeKey makes a node's P-256 private key (PKCS#8 PEM) and a PKCS#10
// certificate request for it (PEM). The request names the node, but
// mtlsgate ignores its names and issues for the node and fleet of the API
// call; the key never leaves the host.
func NewNodeKey(nodeID string) (keyPEM, csrPEM []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("envoy: node key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, fmt.Errorf("envoy: node key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: nodeID}}, k)
	if err != nil {
		return nil, nil, fmt.Errorf("envoy: certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), nil
}

// Check verifies credentials before they are written: the key matches
// the certificate, the certificate chains to the CA for client
// authentication and is valid at now. It returns the node certificate.
func (c Credentials) Check(now time.Time) (*x509.Certificate, error) {
	pair, err := tls.X509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("envoy: node certificate and key: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.CA) {
		return nil, errors.New("envoy: the CA holds no PEM certificate")
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		ic, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("envoy: node certificate chain: %w", err)
		}
		inter.AddCert(ic)
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("envoy: node certificate does not verify against the CA: %w", err)
	}
	return pair.Leaf, nil
}

// dirFile is one file of a credentials directory.
type dirFile struct {
	name string // relative to the directory
	data []byte
	mode fs.FileMode
}

// dirFiles renders every file of a credentials directory for o (o.Dir is
// the directory as Envoy sees it), in the order WriteDir puts them in
// place.
func dirFiles(o BootstrapOptions, c Credentials) ([]dirFile, error) {
	b, err := Bootstrap(o)
	if err != nil {
		return nil, err
	}
	boot, err := YAML(b)
	if err != nil {
		return nil, err
	}
	out := []dirFile{{CAFile, c.CA, 0o644}, {KeyFile, c.Key, 0o600}, {CertFile, c.Cert, 0o644}, {BootstrapFile, boot, 0o644}}
	for _, s := range []struct {
		name string
		make func(string) (*discoveryv3.DiscoveryResponse, error)
	}{{CASecretFile, CASecret}, {NodeSecretFile, NodeSecret}} {
		r, err := s.make(o.Dir)
		if err != nil {
			return nil, err
		}
		y, err := YAML(r)
		if err != nil {
			return nil, err
		}
		out = append(out, dirFile{s.name, y, 0o644})
	}
	return out, nil
}

// WriteDir checks the credentials c at now (see Check) and writes them and
// the bootstrap of o to dir:
// envoy.yaml, ca.pem, node.pem, node.key (0600) and the SDS files under
// sds/. dir is created 0700 when missing and must not be writable by
// group or others. o.Dir, the directory as Envoy sees it, defaults to
// dir's absolute path.
//
// Every file is written to a temporary file, synced and renamed over the
// old one, the PEM files first and the SDS files last. Envoy reloads the
// secrets when a file is moved into sds/, so it reads the new PEM files
// once they are all in place, never a new certificate with an old key:
// running it again with new credentials renews them in place, without
// restarting Envoy or dropping a connection.
func WriteDir(dir string, o BootstrapOptions, c Credentials, now time.Time) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("envoy: %w", err)
	}
	if o.Dir == "" {
		o.Dir = abs
	}
	if _, err := c.Check(now); err != nil {
		return err
	}
	files, err := dirFiles(o, c)
	if err != nil {
		return err
	}
	if err := prepareDir(abs); err != nil {
		return err
	}
	if err := prepareDir(filepath.Join(abs, SDSDir)); err != nil {
		return err
	}
	temps := make([]string, len(files))
	defer func() {
		for _, t := range temps {
			if t != "" {
				_ = os.Remove(t)
			}
		}
	}()
	// Every temporary file is made in dir itself, so that sds/ only ever
	// sees files moved into it (the SDS files, last).
	for i, f := range files {
		if temps[i], err = writeTemp(abs, f.name, f.data, f.mode); err != nil {
			return err
		}
	}
	for i, f := range files {
		if err := os.Rename(temps[i], filepath.Join(abs, f.name)); err != nil {
			return fmt.Errorf("envoy: put %s in place: %w", f.name, err)
		}
		temps[i] = ""
	}
	for _, d := range []string{abs, filepath.Join(abs, SDSDir)} {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// prepareDir creates dir 0700 when missing; an existing one must be a
// directory that group and others cannot write to (they could swap the
// credentials).
func prepareDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("envoy: create %s: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("envoy: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("envoy: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("envoy: %s is writable by group or others (mode %v): chmod go-w it first", dir, fi.Mode().Perm())
	}
	return nil
}

// writeTemp writes data to a new temporary file in dir, for name, with
// mode, synced; it returns the temporary file's path.
func writeTemp(dir, name string, data []byte, mode fs.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("envoy: write %s: %w", name, err)
	}
	tmp := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("envoy: write %s: %w", name, err)
	}
	return tmp, nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("envoy: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("envoy: sync %s: %w", dir, err)
	}
	return nil
}
