package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mtlsgate/mtlsgate/internalca"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// CAFile is the internal CA's certificate in the data directory: what the
// CLI and Envoy trust mtlsgate's listeners by.
const CAFile = "ca.pem"

// TLSConfig is how mtlsgate's own listeners are secured.
type TLSConfig struct {
	// InsecurePlaintext serves every listener without TLS and without node
	// identities. Refused unless every listener is on a loopback address.
	InsecurePlaintext bool `yaml:"insecure_plaintext"`
	// ServerNames are extra DNS names or IP addresses of the serving
	// certificate, beyond localhost, 127.0.0.1, ::1, the host name and the
	// listeners' own addresses.
	ServerNames []string `yaml:"server_names"`
	// CertFile and KeyFile replace the serving certificate the internal CA
	// issues (PEM; the certificate must name nodeid.ServerURI).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CACertFile and CAKeyFile replace the generated internal CA with the
	// operator's own (PEM). It signs node certificates and, unless
	// CertFile is set, the serving certificate.
	CACertFile string `yaml:"ca_cert_file"`
	CAKeyFile  string `yaml:"ca_key_file"`
	// NodeCertLifetime is the longest (and default) lifetime of a node
	// certificate.
	NodeCertLifetime time.Duration `yaml:"node_cert_lifetime"`
}

// validate checks the TLS section against the listener addresses.
func (t TLSConfig) validate(addrs map[string]string) error {
	if t.InsecurePlaintext {
		for _, name := range slices.Sorted(maps.Keys(addrs)) {
			if !isLoopback(addrs[name]) {
				return fmt.Errorf("config: tls.insecure_plaintext: %s %q is not a loopback address; plaintext is refused on any other", name, addrs[name])
			}
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("config: tls.cert_file and tls.key_file: set both or neither")
	}
	if (t.CACertFile == "") != (t.CAKeyFile == "") {
		return errors.New("config: tls.ca_cert_file and tls.ca_key_file: set both or neither")
	}
	if t.NodeCertLifetime < time.Hour || t.NodeCertLifetime > 365*24*time.Hour {
		return fmt.Errorf("config: tls.node_cert_lifetime: %s is not between 1h and 8760h", t.NodeCertLifetime)
	}
	return nil
}

// isLoopback reports whether host:port names a loopback address.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// listen binds addr for the listener configured as name. In plaintext
// mode the address it actually bound must be a loopback one, whatever
// the name resolved to (the config check trusts "localhost").
func (s *Server) listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if s.cfg.TLS.InsecurePlaintext {
		if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
			_ = ln.Close()
			return nil, fmt.Errorf("%s: %q bound %s, not a loopback address; plaintext (tls.insecure_plaintext) is refused on any other", name, addr, ln.Addr())
		}
	}
	return ln, nil
}

// security is what the listeners are served with: the internal CA and
// the serving certificate, or nothing in plaintext mode.
type security struct {
	ca      *internalca.Authority
	serving func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// trust is what clients verify the listeners by, written to ca.pem
	// and handed to nodes: the CA, and the CA certificates of an
	// operator's serving chain.
	trust []byte
}

// trustingIssuer is the CA as the API hands it to nodes: it signs with
// the CA and gives out the whole trust bundle.
type trustingIssuer struct {
	*internalca.Authority
	trust []byte
}

// CertificatePEM is the trust bundle.
func (t trustingIssuer) CertificatePEM() []byte { return t.trust }

// setupTLS loads or creates the internal CA, writes its certificate to the
// data directory, and prepares the serving certificate.
func (s *Server) setupTLS(ctx context.Context) error {
	t := s.cfg.TLS
	if t.InsecurePlaintext {
		s.log.Warn("TLS is off on every listener (tls.insecure_plaintext): tokens, keys and decisions cross the network in the clear, and Envoy nodes are not authenticated",
			"admin", s.cfg.AdminAddr, "authz", s.cfg.AuthzAddr, "xds", s.cfg.XDSAddr)
		return nil
	}
	ca, err := s.loadCA(ctx)
	if err != nil {
		return err
	}
	s.sec.ca = ca
	s.sec.trust = ca.CertificatePEM()
	s.sec.serving, err = s.servingCertificate(ca)
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.Data, CAFile)
	if err := writeFileAtomic(path, s.sec.trust, 0o644); err != nil {
		return fmt.Errorf("write CA certificate: %w", err)
	}
	s.log.Info("TLS on every listener", "ca_file", path, "ca_sha256", ca.Fingerprint())
	return nil
}

// loadCA is the operator's CA when configured, else the store's, created
// on first start.
func (s *Server) loadCA(ctx context.Context) (*internalca.Authority, error) {
	t := s.cfg.TLS
	if t.CACertFile != "" {
		certPEM, err := os.ReadFile(t.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_cert_file: %w", err)
		}
		keyPEM, err := os.ReadFile(t.CAKeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_key_file: %w", err)
		}
		ca, err := internalca.Load(&pb.InternalCA{CertificatePem: string(certPEM), PrivateKeyPem: string(keyPEM)})
		if err != nil {
			return nil, fmt.Errorf("tls.ca_cert_file: %w", err)
		}
		return ca, nil
	}
	stored, err := s.store.EnsureInternalCA(ctx, func() (*pb.InternalCA, error) { return internalca.New(time.Now()) })
	if err != nil {
		return nil, err
	}
	return internalca.Load(stored)
}

// servingCertificate is the operator's certificate when configured, else
// one the CA issues (and renews) for the names clients may dial.
func (s *Server) servingCertificate(ca *internalca.Authority) (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	t := s.cfg.TLS
	if t.CertFile != "" {
		c, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		if !slices.ContainsFunc(c.Leaf.URIs, func(u *url.URL) bool { return u.String() == nodeid.ServerURI }) {
			return nil, fmt.Errorf("tls.cert_file: the certificate must carry the URI SAN %s (Envoy and the CLI verify mtlsgate by it)", nodeid.ServerURI)
		}
		if err := s.trustChain(ca, c); err != nil {
			return nil, err
		}
		return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &c, nil }, nil
	}
	sv, err := internalca.NewServing(ca, s.servingHosts(), time.Now)
	if err != nil {
		return nil, err
	}
	return sv.GetCertificate, nil
}

// trustChain adds the CA certificates that follow the leaf in an
// operator's serving chain to the trust bundle, and checks that the leaf
// verifies against the bundle: clients trust nothing else.
func (s *Server) trustChain(ca *internalca.Authority, c tls.Certificate) error {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	for _, der := range c.Certificate[1:] {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("tls.cert_file: chain: %w", err)
		}
		if cert.IsCA {
			pool.AddCert(cert)
			s.sec.trust = append(s.sec.trust, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		}
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("tls.cert_file: the certificate does not verify against the internal CA and the CA certificates after it in the file "+
			"(put its issuing CA certificates after the leaf; they are published in %s): %w", CAFile, err)
	}
	return nil
}

// servingHosts are the names the serving certificate carries.
func (s *Server) servingHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	for _, addr := range []string{s.cfg.AdminAddr, s.cfg.AuthzAddr, s.cfg.XDSAddr} {
		if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
			if ip, err := netip.ParseAddr(host); err != nil || !ip.IsUnspecified() {
				hosts = append(hosts, host)
			}
		}
	}
	return append(hosts, s.cfg.TLS.ServerNames...)
}

// baseTLS is what every listener's tls.Config shares.
func (s *Server) baseTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.sec.serving}
}

// nodeCreds are the transport credentials of the ext_authz and xDS
// listeners: TLS, and a client certificate from the internal CA required.
func (s *Server) nodeCreds() credentials.TransportCredentials {
	if s.sec.ca == nil {
		return insecure.NewCredentials()
	}
	c := s.baseTLS()
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.ClientCAs = s.sec.ca.Pool()
	return credentials.NewTLS(c)
}

// adminTLS is the admin listener's tls.Config (nil in plaintext mode):
// callers authenticate with bearer tokens, so no client certificate.
func (s *Server) adminTLS() *tls.Config {
	if s.sec.ca == nil {
		return nil
	}
	c := s.baseTLS()
	c.NextProtos = []string{"h2", "http/1.1"}
	return c
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, so a reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
