package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/bolt"
	"github.com/mtlsgate/mtlsgate/store/etcd"
)

// The store backends `store` selects.
const (
	StoreBolt = "bbolt" // one file in the data directory (default)
	StoreEtcd = "etcd"  // an etcd cluster shared by every replica
)

// EtcdConfig connects the store to an etcd cluster (store: etcd).
type EtcdConfig struct {
	// Endpoints are the members' client URLs (https://host:2379).
	Endpoints []string `yaml:"endpoints"`
	// Prefix is put before every key: installations sharing a cluster
	// each use their own.
	Prefix string `yaml:"prefix"`
	// CAFile verifies the members' certificates (PEM); the system roots
	// when empty.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are mtlsgate's client certificate (PEM), for a
	// cluster that runs with --client-cert-auth.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name the members' certificates must carry.
	ServerName string `yaml:"server_name"`
	// Username and PasswordFile authenticate to a cluster with auth on.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// DialTimeout bounds connecting; RequestTimeout every call.
	DialTimeout    time.Duration `yaml:"dial_timeout"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxRequestBytes and MaxTxnOps must equal the cluster's
	// --max-request-bytes and --max-txn-ops.
	MaxRequestBytes int `yaml:"max_request_bytes"`
	MaxTxnOps       int `yaml:"max_txn_ops"`
	// InsecurePlaintext allows http:// endpoints and no client
	// authentication; refused unless every endpoint is on loopback.
	InsecurePlaintext bool `yaml:"insecure_plaintext"`
}

func defaultEtcdConfig() EtcdConfig {
	return EtcdConfig{Prefix: etcd.DefaultPrefix, DialTimeout: etcd.DefaultDialTimeout,
		RequestTimeout: etcd.DefaultRequestTimeout, MaxRequestBytes: etcd.DefaultMaxRequestBytes, MaxTxnOps: etcd.DefaultMaxTxnOps}
}

// requestHeadroom is what a transaction holds beside its largest value
// (the audit event, the other keys).
const requestHeadroom = 64 << 10

// fitLimits makes the default CRL size limit fit the etcd cluster's
// request size: with store: etcd, a CRL is one value in one request.
// A limit the operator set is kept (Validate refuses one that cannot fit).
func (c *Config) fitLimits() {
	if c.Store == StoreEtcd && c.Limits.MaxCRLBytes == store.DefaultLimits().MaxCRLBytes {
		c.Limits.MaxCRLBytes = max(c.Etcd.MaxRequestBytes-requestHeadroom, 0)
	}
}

// validateStore checks store and the etcd section it selects.
func (c Config) validateStore() error {
	switch c.Store {
	case StoreBolt:
		return nil
	case StoreEtcd:
		return c.Etcd.validate(c.Limits)
	}
	return fmt.Errorf("config: store: %q is not %s or %s", c.Store, StoreBolt, StoreEtcd)
}

func (e EtcdConfig) validate(l store.Limits) error {
	if len(e.Endpoints) == 0 {
		return errors.New("config: etcd.endpoints: store: etcd needs at least one endpoint")
	}
	for _, ep := range e.Endpoints {
		if err := e.checkEndpoint(ep); err != nil {
			return err
		}
	}
	if !e.InsecurePlaintext && e.CertFile == "" && e.Username == "" {
		return errors.New("config: etcd: set cert_file and key_file (or username and password_file): mtlsgate authenticates to etcd unless etcd.insecure_plaintext is set")
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		return errors.New("config: etcd.cert_file and etcd.key_file: set both or neither")
	}
	if (e.Username == "") != (e.PasswordFile == "") {
		return errors.New("config: etcd.username and etcd.password_file: set both or neither")
	}
	if !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/") {
		return fmt.Errorf("config: etcd.prefix: %q must start and end with /", e.Prefix)
	}
	if e.DialTimeout <= 0 || e.RequestTimeout <= 0 {
		return errors.New("config: etcd.dial_timeout and etcd.request_timeout: must be positive")
	}
	// A CRL is one value written in one transaction with its audit event.
	if need := max(l.MaxCRLBytes, l.MaxObjectBytes) + requestHeadroom; e.MaxRequestBytes < need {
		return fmt.Errorf("config: etcd.max_request_bytes: %d is less than limits.max_crl_bytes plus 64 KiB (%d): raise etcd's --max-request-bytes and this together, or lower limits.max_crl_bytes", e.MaxRequestBytes, need)
	}
	if e.MaxTxnOps < 16 {
		return fmt.Errorf("config: etcd.max_txn_ops: %d is less than 16", e.MaxTxnOps)
	}
	return nil
}

// checkEndpoint accepts https URLs, and http ones on loopback when
// insecure_plaintext is set.
func (e EtcdConfig) checkEndpoint(ep string) error {
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("config: etcd.endpoints: %q is not https://host:port", ep)
	}
	if u.Scheme == "http" && !e.InsecurePlaintext {
		return fmt.Errorf("config: etcd.endpoints: %q is plaintext: use https, or set etcd.insecure_plaintext (loopback only)", ep)
	}
	if e.InsecurePlaintext && !isLoopback(u.Host) {
		return fmt.Errorf("config: etcd.insecure_plaintext: endpoint %q is not a loopback address; plaintext is refused on any other", ep)
	}
	return nil
}

// openBackend opens the backend cfg selects.
func openBackend(ctx context.Context, cfg Config) (store.Backend, error) {
	if cfg.Store != StoreEtcd {
		return bolt.Open(filepath.Join(cfg.Data, DBFile), bolt.Options{})
	}
	o, err := cfg.Etcd.options()
	if err != nil {
		return nil, err
	}
	return etcd.Open(ctx, o)
}

// options reads the files the etcd section names.
func (e EtcdConfig) options() (etcd.Options, error) {
	o := etcd.Options{Endpoints: e.Endpoints, Prefix: e.Prefix, Username: e.Username,
		DialTimeout: e.DialTimeout, RequestTimeout: e.RequestTimeout, MaxRequestBytes: e.MaxRequestBytes, MaxTxnOps: e.MaxTxnOps}
	if e.PasswordFile != "" {
		b, err := os.ReadFile(e.PasswordFile)
		if err != nil {
			return o, fmt.Errorf("etcd.password_file: %w", err)
		}
		o.Password = strings.TrimRight(string(b), "\r\n")
	}
	if e.InsecurePlaintext && e.CAFile == "" && e.CertFile == "" {
		return o, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: e.ServerName}
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return o, fmt.Errorf("etcd.ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return o, fmt.Errorf("etcd.ca_file %s: no PEM certificate in it", e.CAFile)
		}
	}
	if e.CertFile != "" {
		c, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return o, fmt.Errorf("etcd.cert_file and etcd.key_file: %w", err)
		}
		t.Certificates = []tls.Certificate{c}
	}
	o.TLS = t
	return o, nil
}

// compactStore removes what a reseal left behind: for bbolt, the file's
// free pages (the file is rewritten; the store must be closed); for etcd,
// the history before the current revision.
func compactStore(ctx context.Context, cfg Config) (string, error) {
	if cfg.Store != StoreEtcd {
		path := filepath.Join(cfg.Data, DBFile)
		return path, bolt.CompactFile(path, bolt.Options{})
	}
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer b.Close()
	rev, err := b.(*etcd.Backend).CompactHistory(ctx)
	return fmt.Sprintf("the etcd cluster's history before revision %d, for every prefix (installations sharing the cluster lose theirs too); "+
		"etcdctl defrag frees the space, and the members' WAL and snapshot files keep old values until etcd purges them", rev), err
}
