package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtlsgate/mtlsgate/server"
	"github.com/mtlsgate/mtlsgate/store"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// loopbackConfig is the default configuration with a fresh data directory
// and every listener on a free loopback port.
func loopbackConfig(t *testing.T) server.Config {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.AdminAddr, cfg.AuthzAddr, cfg.XDSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mtlsgate.yaml")
	if err := os.WriteFile(file, []byte("data: /from/file\nadmin_addr: 127.0.0.1:1\nauthz_addr: 127.0.0.1:2\nlimits:\n  max_cas: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"MTLSGATE_CONFIG": file, "MTLSGATE_ADMIN_ADDR": "127.0.0.1:3", "MTLSGATE_AUTHZ_ADDR": "127.0.0.1:4"})
	cfg, err := server.LoadConfig([]string{"--authz-addr", "127.0.0.1:5"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"data (file)":       {cfg.Data, "/from/file"},
		"admin (env>file)":  {cfg.AdminAddr, "127.0.0.1:3"},
		"authz (flag>env)":  {cfg.AuthzAddr, "127.0.0.1:5"},
		"xds (default)":     {cfg.XDSAddr, "127.0.0.1:18000"},
		"log level default": {cfg.LogLevel, "info"},
	}
	for name, v := range want {
		if v[0] != v[1] {
			t.Errorf("%s: got %q, want %q", name, v[0], v[1])
		}
	}
	if cfg.Limits.MaxCAs != 7 || cfg.Limits.MaxCAsPerSite != 120 {
		t.Errorf("limits: %+v", cfg.Limits)
	}
}

// TestCRLFetchSwitch: CRL fetching is on by default; the file, the
// environment and the flag turn it off, in that order of precedence.
func TestCRLFetchSwitch(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mtlsgate.yaml")
	if err := os.WriteFile(file, []byte("revocation:\n  fetch:\n    enabled: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{nil, nil, true},
		{[]string{"--config", file}, nil, false},
		{[]string{"--config", file}, map[string]string{"MTLSGATE_CRL_FETCH": "true"}, true},
		{[]string{"--crl-fetch=false"}, map[string]string{"MTLSGATE_CRL_FETCH": "true"}, false},
	} {
		cfg, err := server.LoadConfig(tc.args, envOf(tc.env), io.Discard)
		if err != nil || cfg.Revocation.Fetch.Enabled != tc.want {
			t.Errorf("%v %v: enabled %t (%v), want %t", tc.args, tc.env, cfg.Revocation.Fetch.Enabled, err, tc.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	n := 0
	write := func(body string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("c%d.yaml", n))
		_ = os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		msg  string
	}{
		{"unknown key", []string{"--config", write("admn_addr: x\n")}, nil, "admn_addr"},
		{"bad yaml", []string{"--config", write("data: [\n")}, nil, ".yaml"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml")}, nil, "none.yaml"},
		{"bad addr flag", []string{"--admin-addr", "nonsense"}, nil, "admin_addr"},
		{"bad addr env", nil, map[string]string{"MTLSGATE_XDS_ADDR": "x"}, "xds_addr"},
		{"bad level", []string{"--log-level", "loud"}, nil, "log_level"},
		{"stray argument", []string{"extra"}, nil, "no arguments"},
		{"negative limit", []string{"--config", write("limits:\n  max_cas: -1\n")}, nil, "negative"},
		{"short retention", []string{"--config", write("audit_retention: 1m\n")}, nil, "audit_retention"},
		{"bad pprof env", nil, map[string]string{"MTLSGATE_DEBUG_PPROF": "maybe"}, "MTLSGATE_DEBUG_PPROF"},
		{"bad pprof key", []string{"--config", write("debug:\n  pprof: maybe\n")}, nil, ".yaml"},
		{"refresh_at out of range", []string{"--config", write("revocation:\n  fetch:\n    refresh_at: 1.5\n")}, nil, "revocation.fetch.refresh_at"},
		{"refresh_at NaN", []string{"--config", write("revocation:\n  fetch:\n    refresh_at: .nan\n")}, nil, "revocation.fetch.refresh_at"},
		{"min over max interval", []string{"--config", write("revocation:\n  fetch:\n    min_interval: 2h\n    max_interval: 1h\n")}, nil, "min_interval"},
		{"bad retry", []string{"--config", write("revocation:\n  fetch:\n    retry_min: 0s\n")}, nil, "retry_min"},
		{"bad allowed range", []string{"--config", write("revocation:\n  outbound:\n    allow_nets: [10.0.0.0]\n")}, nil, "allow_nets"},
		{"bad allowed host", []string{"--config", write("revocation:\n  outbound:\n    allow_hosts: [\"a/b\"]\n")}, nil, "allow_hosts"},
		{"bad proxy", []string{"--config", write("revocation:\n  outbound:\n    proxy: socks5://p:1080\n")}, nil, "revocation.outbound.proxy"},
		{"OCSP budget beyond half the authz timeout", []string{"--config", write("revocation:\n  ocsp:\n    budget: 200ms\n")}, nil, "revocation.ocsp.budget"},
		{"OCSP refresh_at out of range", []string{"--config", write("revocation:\n  ocsp:\n    refresh_at: 0\n")}, nil, "revocation.ocsp.refresh_at"},
		{"OCSP retry_max under retry_min", []string{"--config", write("revocation:\n  ocsp:\n    retry_min: 1m\n    retry_max: 1s\n")}, nil, "revocation.ocsp.retry_min"},
		{"OCSP max_entries zero", []string{"--config", write("revocation:\n  ocsp:\n    max_entries: 0\n")}, nil, "revocation.ocsp.max_entries"},
		{"OCSP idle zero", []string{"--config", write("revocation:\n  ocsp:\n    idle: 0s\n")}, nil, "revocation.ocsp.idle"},
		{"bad outbound timeout", []string{"--config", write("revocation:\n  outbound:\n    timeout: 1h\n")}, nil, "revocation.outbound.timeout"},
		{"bad crl fetch env", nil, map[string]string{"MTLSGATE_CRL_FETCH": "perhaps"}, "MTLSGATE_CRL_FETCH"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.LoadConfig(tc.args, envOf(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestFirstStartWritesAdminTokenAndShutsDownCleanly(t *testing.T) {
	cfg := loopbackConfig(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := server.Start(ctx, cfg, log)
		if err != nil {
			t.Fatalf("start %d: %v", round, err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Serve did not return after cancel")
		}
	}
	path := filepath.Join(cfg.Data, server.AdminTokenFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v", err, fi.Mode())
	}
	tok, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(tok), "mtg.") {
		t.Fatalf("token file holds %q", tok)
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(tok))) {
		t.Fatal("the admin token was logged")
	}
	if strings.Count(logs.String(), "created the first admin token") != 1 || !strings.Contains(logs.String(), path) {
		t.Fatalf("logs should name the token file once on first start:\n%s", logs.String())
	}
	if fi, _ := os.Stat(filepath.Join(cfg.Data, server.DBFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("database mode %v", fi.Mode())
	}
}

func TestPprofConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mtlsgate.yaml")
	if err := os.WriteFile(file, []byte("debug:\n  pprof: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want bool
	}{
		{"default off", nil, nil, false},
		{"file", []string{"--config", file}, nil, true},
		{"env over file", []string{"--config", file}, map[string]string{"MTLSGATE_DEBUG_PPROF": "false"}, false},
		{"flag over env", []string{"--debug-pprof"}, map[string]string{"MTLSGATE_DEBUG_PPROF": "0"}, true},
		{"flag off over env", []string{"--debug-pprof=false"}, map[string]string{"MTLSGATE_DEBUG_PPROF": "true"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := server.LoadConfig(tc.args, envOf(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Debug.Pprof != tc.want {
				t.Errorf("debug.pprof = %v, want %v", cfg.Debug.Pprof, tc.want)
			}
		})
	}
}

// TestPprofOnlyWhenEnabled: the profiling endpoints exist on the admin
// address only with debug.pprof, and then serve a real CPU profile.
func TestPprofOnlyWhenEnabled(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		t.Run(fmt.Sprint("enabled=", enabled), func(t *testing.T) {
			cfg := loopbackConfig(t)
			cfg.Debug.Pprof = enabled
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := server.Start(ctx, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx) }()
			defer func() { cancel(); <-done }()
			base := "https://" + s.AdminAddr() + "/debug/pprof/"
			get := adminGetter(t, cfg.Data)
			if code, _ := get(t, base); (code == 200) != enabled {
				t.Fatalf("GET /debug/pprof/: %d with pprof enabled=%v", code, enabled)
			}
			if !enabled {
				return
			}
			code, body := get(t, base+"profile?seconds=1")
			if code != 200 || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
				t.Fatalf("CPU profile: status %d, %d bytes, not gzip", code, len(body))
			}
		})
	}
}

// adminGetter returns a GET over TLS that trusts the CA the server wrote to
// dataDir.
func adminGetter(t *testing.T, dataDir string) func(*testing.T, string) (int, []byte) {
	t.Helper()
	pemCA, err := os.ReadFile(filepath.Join(dataDir, server.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(c.CloseIdleConnections)
	return func(t *testing.T, url string) (int, []byte) { return get(t, c, url) }
}

func get(t *testing.T, c *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestFailingListenerStopsEverything: when one listener fails, Serve
// returns its error only after every goroutine it started has ended (the
// store's followers among them) and the store is closed. Before, Serve
// returned while the policy and xDS followers still read a closed store.
func TestFailingListenerStopsEverything(t *testing.T) {
	before := goleak.IgnoreCurrent()
	cfg := loopbackConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := server.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	if err := s.CloseAuthzListener(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "closed") {
			t.Fatalf("Serve = %v, want the listener's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after its listener failed")
	}
	goleak.VerifyNone(t, before)
	if _, err := s.Store().PruneAudit(ctx, time.Now()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("a write after Serve returned: %v, want the store closed", err)
	}
}
