// Package systemd holds the tests of mtlsgate.service and its environment
// file: the hardening the unit must keep, ExecStart's flags and the
// environment file's variables checked against serve's real flag set, and
// systemd-analyze's verify and security report where it is installed.
package systemd

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/server"
)

// unit is a parsed unit file: section, then key, then every value given
// (a key may be repeated).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, section := unit{}, ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, "\\") {
				t.Fatalf("%s:%d: not KEY=VALUE in a section: %q", path, n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// one returns the single value of key in section.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	vs := u[section][key]
	if len(vs) != 1 {
		t.Fatalf("[%s] %s is given %d times, want once", section, key, len(vs))
	}
	return vs[0]
}

// TestUnitHardening: the options that confine the service stay in the unit.
func TestUnitHardening(t *testing.T) {
	u := parseUnit(t, "mtlsgate.service")
	want := map[string]string{
		"Type": "exec", "Restart": "on-failure", "DynamicUser": "yes",
		"StateDirectory": "mtlsgate", "StateDirectoryMode": "0700", "WorkingDirectory": "%S/mtlsgate", "UMask": "0077",
		"CapabilityBoundingSet": "", "AmbientCapabilities": "", "NoNewPrivileges": "yes",
		"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
		"PrivateUsers": "yes", "PrivateMounts": "yes", "ProtectHostname": "yes", "ProtectClock": "yes",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
		"ProtectControlGroups": "yes", "ProtectProc": "invisible",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces": "yes",
		"RestrictRealtime": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
		"MemoryDenyWriteExecute": "yes", "RemoveIPC": "yes", "SystemCallArchitectures": "native",
		"KillSignal": "SIGTERM",
	}
	for k, v := range want {
		if got := u.one(t, "Service", k); got != v {
			t.Errorf("%s=%s, want %s", k, got, v)
		}
	}
	if f := u["Service"]["SystemCallFilter"]; !slices.Contains(f, "@system-service") || !slices.Contains(f, "~@privileged @resources") {
		t.Errorf("SystemCallFilter %q: want @system-service less @privileged and @resources", f)
	}
	if got := u.one(t, "Service", "EnvironmentFile"); got != "-/etc/mtlsgate/mtlsgate.env" {
		t.Errorf("EnvironmentFile=%s", got)
	}
	if got := u.one(t, "Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("WantedBy=%s", got)
	}
}

// TestUnitNoNotify: Type=exec is right only while the binary does not
// speak sd_notify; the day it does, the unit should say Type=notify.
func TestUnitNoNotify(t *testing.T) {
	err := filepath.WalkDir("../..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("NOTIFY_SOCKET")) {
			t.Errorf("%s speaks sd_notify: make mtlsgate.service Type=notify", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// envFile reads the environment file's assignments (comments left out).
func envFile(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("mtlsgate.env")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(v, `"'$\`) {
			t.Fatalf("mtlsgate.env: %q is not a plain KEY=VALUE", line)
		}
		env[k] = v
	}
	return env
}

// TestUnitExecStart loads serve's configuration the way the unit starts
// it: ExecStart's flags (%S made a temporary directory) with the
// environment file, through serve's own flag set and validation.
func TestUnitExecStart(t *testing.T) {
	u := parseUnit(t, "mtlsgate.service")
	state := t.TempDir()
	args := strings.Fields(strings.ReplaceAll(u.one(t, "Service", "ExecStart"), "%S", state))
	if len(args) < 2 || args[0] != "/usr/local/bin/mtlsgate" || args[1] != "serve" {
		t.Fatalf("ExecStart %q: want /usr/local/bin/mtlsgate serve ...", args)
	}
	env := envFile(t)
	var usage bytes.Buffer
	cfg, err := server.LoadConfig(args[2:], func(k string) string { return env[k] }, &usage)
	if err != nil {
		t.Fatalf("serve %q with mtlsgate.env: %v\n%s", args[2:], err, usage.String())
	}
	if want := filepath.Join(state, u.one(t, "Service", "StateDirectory")); cfg.Data != want {
		t.Errorf("data directory %s, want the StateDirectory %s", cfg.Data, want)
	}
	if want := strings.ReplaceAll(u.one(t, "Service", "WorkingDirectory"), "%S", state); cfg.Data != want {
		t.Errorf("data directory %s, working directory %s", cfg.Data, want)
	}
	if cfg.AdminAddr != env["MTLSGATE_ADMIN_ADDR"] || cfg.AuthzAddr != env["MTLSGATE_AUTHZ_ADDR"] {
		t.Errorf("the environment file's addresses were not taken: %s, %s", cfg.AdminAddr, cfg.AuthzAddr)
	}
}

// TestEnvFileNames: every MTLSGATE_ variable the environment file names,
// commented out or not, is one serve reads.
func TestEnvFileNames(t *testing.T) {
	var usage bytes.Buffer
	if _, err := server.LoadConfig([]string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, server.ErrHelp) {
		t.Fatalf("serve -h: %v", err)
	}
	known := append(regexp.MustCompile(`env (MTLSGATE_[A-Z_]+)`).FindAllString(usage.String(), -1), "env "+server.SealKeysEnv)
	if len(known) < 10 {
		t.Fatalf("serve's usage names %d variables:\n%s", len(known), usage.String())
	}
	b, err := os.ReadFile("mtlsgate.env")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`MTLSGATE_[A-Z_]+`).FindAllString(string(b), -1)
	if len(names) < 4 {
		t.Fatalf("mtlsgate.env names %d variables", len(names))
	}
	for _, name := range names {
		if !slices.Contains(known, "env "+name) {
			t.Errorf("mtlsgate.env names %s, which serve does not read", name)
		}
	}
}

// TestSystemdAnalyze runs systemd-analyze verify on the unit (any warning
// fails), and its offline security report, which must stay at 1.5 or
// below. The binary the unit names is replaced by this test's own, so that
// verify finds an executable there.
func TestSystemdAnalyze(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (Debian: apt-get install systemd); the unit is checked by the other tests only")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("mtlsgate.service")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mtlsgate.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte("/usr/local/bin/mtlsgate"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=15", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 1.5 (%v)\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Log(lines[len(lines)-1])
}
