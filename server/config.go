package server

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

// Config is everything `mtlsgate serve` can be told. Each field comes from,
// in rising precedence: its default, the YAML file (--config), an
// MTLSGATE_* environment variable, a flag.
type Config struct {
	// Data is the directory of the embedded store, the admin token file
	// and the seal key file.
	Data string `yaml:"data"`
	// Store is the backend: bbolt (a file in Data) or etcd (storecfg.go).
	Store string `yaml:"store"`
	// Etcd connects to the cluster when Store is etcd.
	Etcd EtcdConfig `yaml:"etcd"`
	// AdminAddr serves the Certificate Manager API (gRPC and JSON/HTTP).
	AdminAddr string `yaml:"admin_addr"`
	// AuthzAddr serves the ext_authz Check service.
	AuthzAddr string `yaml:"authz_addr"`
	// XDSAddr serves the xDS control plane.
	XDSAddr string `yaml:"xds_addr"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// AuditRetention is how long audit events are kept.
	AuditRetention time.Duration `yaml:"audit_retention"`
	// Limits bound what the account may store.
	Limits store.Limits `yaml:"limits"`
	// Authz tunes the ext_authz server.
	Authz AuthzConfig `yaml:"authz"`
	// Revocation is CRL fetching, OCSP and the outbound request policy.
	Revocation RevocationConfig `yaml:"revocation"`
	// XDS describes the Envoy side of the deployment.
	XDS XDSConfig `yaml:"xds"`
	// TLS secures the admin, ext_authz and xDS listeners.
	TLS TLSConfig `yaml:"tls"`
	// Debug enables diagnostics that are off in production.
	Debug DebugConfig `yaml:"debug"`
	// Seal says where the keyring that encrypts private keys in the
	// store comes from (keys.go).
	Seal SealConfig `yaml:"seal"`
	// Issuing configures the account's issuing CA (issuingcfg.go).
	Issuing IssuingConfig `yaml:"issuing"`
	// Webhooks shapes the webhook dispatcher (webhookcfg.go).
	Webhooks WebhooksConfig `yaml:"webhooks"`
}

// DebugConfig enables diagnostics.
type DebugConfig struct {
	// Pprof serves Go's profiling endpoints (net/http/pprof) under
	// /debug/pprof/ on the admin address. They need no token: enable it
	// only where the admin address is reachable by operators alone.
	Pprof bool `yaml:"pprof"`
}

// XDSConfig is what the control plane tells Envoy beyond the sites.
type XDSConfig struct {
	// HTTPSAddr and HTTPAddr are Envoy's listener addresses.
	HTTPSAddr string `yaml:"https_addr"`
	HTTPAddr  string `yaml:"http_addr"`
	// AuthzTimeout bounds one ext_authz call from Envoy.
	AuthzTimeout time.Duration `yaml:"authz_timeout"`
	// HTTPSPort is where plain HTTP is redirected (443: the default port).
	HTTPSPort uint32 `yaml:"https_port"`
	// UpstreamCAFile verifies https origins, on the Envoy host.
	UpstreamCAFile string `yaml:"upstream_ca_file"`
}

// AuthzConfig tunes the ext_authz server.
type AuthzConfig struct {
	// CacheSize is how many certificate verdicts are cached.
	CacheSize int `yaml:"cache_size"`
	// DecisionLog is all, failures or off.
	DecisionLog string `yaml:"decision_log"`
}

// DefaultConfig returns the defaults documented in the README.
func DefaultConfig() Config {
	return Config{
		Data:           "./data",
		Store:          StoreBolt,
		Etcd:           defaultEtcdConfig(),
		AdminAddr:      "127.0.0.1:9000",
		AuthzAddr:      "127.0.0.1:9191",
		XDSAddr:        "127.0.0.1:18000",
		LogLevel:       "info",
		AuditRetention: 365 * 24 * time.Hour,
		Limits:         store.DefaultLimits(),
		Authz:          AuthzConfig{CacheSize: 10000, DecisionLog: "failures"},
		TLS:            TLSConfig{NodeCertLifetime: 30 * 24 * time.Hour},
		XDS: XDSConfig{
			HTTPSAddr: "0.0.0.0:10443", HTTPAddr: "0.0.0.0:10080", AuthzTimeout: 250 * time.Millisecond,
			HTTPSPort: 443, UpstreamCAFile: "/etc/ssl/certs/ca-certificates.crt",
		},
		Seal:       SealConfig{CreateKeyFile: true},
		Revocation: defaultRevocationConfig(),
		Webhooks:   defaultWebhooksConfig(),
		Issuing:    defaultIssuingConfig(),
	}
}

// xdsOptions is the translation's view of the config.
func (c Config) xdsOptions() xds.Options {
	return xds.Options{
		HTTPSAddr: c.XDS.HTTPSAddr, HTTPAddr: c.XDS.HTTPAddr,
		AuthzTimeout: c.XDS.AuthzTimeout, HTTPSPort: c.XDS.HTTPSPort, UpstreamCAFile: c.XDS.UpstreamCAFile,
		RequireNodeIdentity: !c.TLS.InsecurePlaintext,
	}
}

// envVars maps each environment variable to the field it sets.
func envVars(c *Config) map[string]*string {
	return map[string]*string{
		"MTLSGATE_DATA":        &c.Data,
		"MTLSGATE_STORE":       &c.Store,
		"MTLSGATE_ETCD_PREFIX": &c.Etcd.Prefix,
		"MTLSGATE_ADMIN_ADDR":  &c.AdminAddr,
		"MTLSGATE_AUTHZ_ADDR":  &c.AuthzAddr,
		"MTLSGATE_XDS_ADDR":    &c.XDSAddr,
		"MTLSGATE_LOG_LEVEL":   &c.LogLevel,
		SealKeyFileEnv:         &c.Seal.KeyFile,
	}
}

// boolEnvVars maps each boolean environment variable to the field it sets.
func boolEnvVars(c *Config) map[string]*bool {
	return map[string]*bool{
		"MTLSGATE_DEBUG_PPROF":        &c.Debug.Pprof,
		"MTLSGATE_INSECURE_PLAINTEXT": &c.TLS.InsecurePlaintext,
		"MTLSGATE_CRL_FETCH":          &c.Revocation.Fetch.Enabled,
	}
}

// ErrHelp is returned by LoadConfig when -h was given.
var ErrHelp = flag.ErrHelp

// LoadConfig builds the Config of `serve` from its arguments and env.
func LoadConfig(args []string, env func(string) string, usage io.Writer) (Config, error) {
	return LoadCommandConfig("mtlsgate serve", args, env, usage)
}

// LoadCommandConfig is LoadConfig for another command that reads the
// server's configuration (recover-admin, keys), named in usage and errors.
func LoadCommandConfig(name string, args []string, env func(string) string, usage io.Writer) (Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	def := DefaultConfig()
	configPath := fs.String("config", env("MTLSGATE_CONFIG"), "YAML configuration file (env MTLSGATE_CONFIG)")
	flags, endpoints := bindFlags(fs, def)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%s takes no arguments, got %q", name, fs.Args())
	}
	cfg := def
	if *configPath != "" {
		if err := readConfigFile(*configPath, &cfg); err != nil {
			return Config{}, err
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return Config{}, err
	}
	applyFlags(fs, &cfg, flags, *endpoints)
	cfg.fitLimits()
	return cfg, cfg.Validate()
}

// bindFlags defines serve's flags on fs; they fill the Config returned and
// the endpoints list.
func bindFlags(fs *flag.FlagSet, def Config) (*Config, *string) {
	var flags Config
	fs.StringVar(&flags.Data, "data", def.Data, "data directory (env MTLSGATE_DATA)")
	fs.StringVar(&flags.AdminAddr, "admin-addr", def.AdminAddr, "Certificate Manager API address, gRPC and JSON (env MTLSGATE_ADMIN_ADDR)")
	fs.StringVar(&flags.AuthzAddr, "authz-addr", def.AuthzAddr, "ext_authz gRPC address (env MTLSGATE_AUTHZ_ADDR)")
	fs.StringVar(&flags.XDSAddr, "xds-addr", def.XDSAddr, "xDS gRPC address (env MTLSGATE_XDS_ADDR)")
	fs.StringVar(&flags.Store, "store", def.Store, "store backend: bbolt or etcd (env MTLSGATE_STORE)")
	endpoints := fs.String("etcd-endpoints", "", "etcd client URLs, comma-separated (env MTLSGATE_ETCD_ENDPOINTS)")
	fs.StringVar(&flags.Etcd.Prefix, "etcd-prefix", def.Etcd.Prefix, "key prefix in etcd (env MTLSGATE_ETCD_PREFIX)")
	fs.StringVar(&flags.LogLevel, "log-level", def.LogLevel, "debug, info, warn or error (env MTLSGATE_LOG_LEVEL)")
	fs.StringVar(&flags.Seal.KeyFile, "seal-key-file", "", "keyring file sealing private keys in the store; default DATA/seal.key (env "+SealKeyFileEnv+")")
	fs.BoolVar(&flags.Debug.Pprof, "debug-pprof", false, "serve /debug/pprof/ on the admin address, without authentication (env MTLSGATE_DEBUG_PPROF)")
	fs.BoolVar(&flags.TLS.InsecurePlaintext, "insecure-plaintext", false, "serve every listener without TLS or node identities; loopback addresses only (env MTLSGATE_INSECURE_PLAINTEXT)")
	fs.BoolVar(&flags.Revocation.Fetch.Enabled, "crl-fetch", def.Revocation.Fetch.Enabled, "fetch the CRLs named by the uploaded CA certificates (env MTLSGATE_CRL_FETCH)")
	return &flags, endpoints
}

// applyEnv overlays the MTLSGATE_* variables on cfg.
func applyEnv(cfg *Config, env func(string) string) error {
	for name, field := range envVars(cfg) {
		if v := env(name); v != "" {
			*field = v
		}
	}
	cfg.Seal.Keys = secretText(env(SealKeysEnv))
	if v := env("MTLSGATE_ETCD_ENDPOINTS"); v != "" {
		cfg.Etcd.Endpoints = splitList(v)
	}
	for name, field := range boolEnvVars(cfg) {
		if v := env(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not true or false", name, v)
			}
			*field = b
		}
	}
	return nil
}

// applyFlags overlays the flags given on the command line on cfg.
func applyFlags(fs *flag.FlagSet, cfg *Config, flags *Config, endpoints string) {
	set := envVars(flags)
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "debug-pprof":
			cfg.Debug.Pprof = flags.Debug.Pprof
			return
		case "insecure-plaintext":
			cfg.TLS.InsecurePlaintext = flags.TLS.InsecurePlaintext
			return
		case "crl-fetch":
			cfg.Revocation.Fetch.Enabled = flags.Revocation.Fetch.Enabled
			return
		case "etcd-endpoints":
			cfg.Etcd.Endpoints = splitList(endpoints)
			return
		}
		name := "MTLSGATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if p, ok := set[name]; ok {
			*envVars(cfg)[name] = *p
		}
	})
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// readConfigFile overlays the YAML file at path on cfg. Unknown keys are
// errors, so a typo cannot silently leave a default in force.
func readConfigFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Validate checks every field and names the first wrong one.
func (c Config) Validate() error {
	if c.Data == "" {
		return errors.New("config: data: must name a directory")
	}
	for name, addr := range map[string]string{"admin_addr": c.AdminAddr, "authz_addr": c.AuthzAddr, "xds_addr": c.XDSAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("config: %s: %q is not host:port: %w", name, addr, err)
		}
	}
	if _, err := c.level(); err != nil {
		return err
	}
	if c.AuditRetention < time.Hour {
		return fmt.Errorf("config: audit_retention: %s is less than an hour", c.AuditRetention)
	}
	if c.Authz.CacheSize < 1 {
		return fmt.Errorf("config: authz.cache_size: must be at least 1, got %d", c.Authz.CacheSize)
	}
	switch c.Authz.DecisionLog {
	case "all", "failures", "off":
	default:
		return fmt.Errorf("config: authz.decision_log: %q is not all, failures or off", c.Authz.DecisionLog)
	}
	if err := c.XDS.validate(); err != nil {
		return err
	}
	if err := c.validateStore(); err != nil {
		return err
	}
	if err := c.Revocation.validate(c.XDS.AuthzTimeout); err != nil {
		return err
	}
	if err := c.Webhooks.validate(); err != nil {
		return err
	}
	if err := c.Issuing.validate(); err != nil {
		return err
	}
	if err := c.TLS.validate(map[string]string{"admin_addr": c.AdminAddr, "authz_addr": c.AuthzAddr, "xds_addr": c.XDSAddr}); err != nil {
		return err
	}
	l := c.Limits
	if l.MaxCAs < 0 || l.MaxCAsPerSite < 0 || l.MaxPinsPerIdentity < 0 || l.MaxObjectBytes < 0 || l.MaxCRLBytes < 0 || l.MaxCRLSources < 0 || l.MaxDenyEntries < 0 ||
		l.MaxIdentities < 0 || l.MaxCertsPerIdentity < 0 || l.MaxWebhooks < 0 || l.MaxSelfSignedCerts < 0 {
		return errors.New("config: limits: must not be negative")
	}
	return nil
}

func (c Config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("config: log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// Logger returns the JSON logger the config asks for.
func (c Config) Logger(w io.Writer) *slog.Logger {
	l, _ := c.level()
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func (x XDSConfig) validate() error {
	for name, addr := range map[string]string{"xds.https_addr": x.HTTPSAddr, "xds.http_addr": x.HTTPAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("config: %s: %q is not host:port: %w", name, addr, err)
		}
	}
	if x.AuthzTimeout <= 0 || x.AuthzTimeout > time.Minute {
		return fmt.Errorf("config: xds.authz_timeout: %s is not between 0 and 1m", x.AuthzTimeout)
	}
	if x.HTTPSPort == 0 || x.HTTPSPort > 65535 {
		return fmt.Errorf("config: xds.https_port: %d is not a port", x.HTTPSPort)
	}
	if x.UpstreamCAFile == "" {
		return fmt.Errorf("config: xds.upstream_ca_file: must name the CA bundle on the Envoy host")
	}
	return nil
}
