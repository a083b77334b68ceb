package server_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/server"
)

// TestEtcdConfigFromEveryLayer: the store backend and the etcd section come
// from the file, the environment and the flags, in that precedence.
func TestEtcdConfigFromEveryLayer(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mtlsgate.yaml")
	if err := os.WriteFile(file, []byte("store: etcd\netcd:\n  endpoints: [\"https://10.0.0.1:2379\"]\n  cert_file: c.pem\n  key_file: k.pem\n  prefix: /file/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"MTLSGATE_CONFIG": file, "MTLSGATE_ETCD_ENDPOINTS": "https://10.0.0.2:2379, https://10.0.0.3:2379",
		"MTLSGATE_ETCD_PREFIX": "/env/"})
	cfg, err := server.LoadConfig([]string{"--etcd-prefix", "/flag/"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store != server.StoreEtcd || strings.Join(cfg.Etcd.Endpoints, " ") != "https://10.0.0.2:2379 https://10.0.0.3:2379" || cfg.Etcd.Prefix != "/flag/" {
		t.Fatalf("store %q, endpoints %v, prefix %q", cfg.Store, cfg.Etcd.Endpoints, cfg.Etcd.Prefix)
	}
	// The default CRL size limit fits etcd's default request size.
	if cfg.Limits.MaxCRLBytes >= cfg.Etcd.MaxRequestBytes || cfg.Limits.MaxCRLBytes < 1<<20 {
		t.Fatalf("max_crl_bytes %d with max_request_bytes %d", cfg.Limits.MaxCRLBytes, cfg.Etcd.MaxRequestBytes)
	}
	_, err = server.LoadConfig([]string{"--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:2379"}, envOf(map[string]string{
		"MTLSGATE_ETCD_ENDPOINTS": "https://10.0.0.9:2379"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "plaintext") {
		t.Fatalf("a plaintext endpoint from the flag (over the env's): %v", err)
	}
}

func TestEtcdConfigRefusals(t *testing.T) {
	cases := []struct {
		name string
		edit func(*server.Config)
		want string
	}{
		{"unknown store", func(c *server.Config) { c.Store = "redis" }, "store:"},
		{"no endpoints", func(c *server.Config) { c.Etcd.Endpoints = nil }, "etcd.endpoints"},
		{"not a URL", func(c *server.Config) { c.Etcd.Endpoints = []string{"10.0.0.1:2379"} }, "https://host:port"},
		{"plaintext", func(c *server.Config) { c.Etcd.Endpoints = []string{"http://10.0.0.1:2379"} }, "plaintext"},
		{"plaintext off loopback", func(c *server.Config) {
			c.Etcd.InsecurePlaintext, c.Etcd.Endpoints = true, []string{"http://10.0.0.1:2379"}
		}, "not a loopback address"},
		{"no client authentication", func(c *server.Config) { c.Etcd.CertFile, c.Etcd.KeyFile = "", "" }, "authenticates to etcd"},
		{"certificate without key", func(c *server.Config) { c.Etcd.KeyFile = "" }, "set both"},
		{"user without password", func(c *server.Config) { c.Etcd.Username = "mtlsgate" }, "password_file"},
		{"prefix", func(c *server.Config) { c.Etcd.Prefix = "mtlsgate" }, "etcd.prefix"},
		{"CRL larger than a request", func(c *server.Config) { c.Limits.MaxCRLBytes = 8 << 20 }, "max_request_bytes"},
		{"timeouts", func(c *server.Config) { c.Etcd.RequestTimeout = 0 }, "request_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loopbackConfig(t)
			cfg.Store = server.StoreEtcd
			cfg.Etcd.Endpoints = []string{"https://10.0.0.1:2379"}
			cfg.Etcd.CertFile, cfg.Etcd.KeyFile = "c.pem", "k.pem"
			cfg.Limits.MaxCRLBytes = 1 << 20
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the base config: %v", err)
			}
			tc.edit(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestServeOnEtcdOverLoopbackPlaintext: the opt-out works where it is
// allowed, and the server serves from the cluster.
func TestServeOnEtcdOverLoopbackPlaintext(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	r := start(t, func(cfg *server.Config) {
		cfg.Store, cfg.Etcd.Endpoints, cfg.Etcd.InsecurePlaintext = server.StoreEtcd, c.Endpoints(), true
		cfg.Limits.MaxCRLBytes = 1 << 20
	})
	if _, err := os.Stat(filepath.Join(r.cfg.Data, server.DBFile)); err == nil {
		t.Fatal("a bbolt file was created with store: etcd")
	}
	kvs, err := c.Client(t).Get(context.Background(), "/mtlsgate/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || kvs.Count == 0 {
		t.Fatalf("nothing under /mtlsgate/ in etcd after start (%v)", err)
	}
}
