//go:build ignore

// Command confcheck is run by the manifests' test with `go run` from the
// repository root, so that it is built against the mtlsgate module itself
// while the manifests' module keeps the Kubernetes dependencies apart.
//
// It reads a request (JSON) on stdin and answers (JSON) on stdout:
//   - every serve invocation of the manifests (args, environment, with the
//     config file written to a temporary path) loaded by the server's own
//     server.LoadConfig: the error, or the values the test compares with
//     the manifests;
//   - every `mtlsgate envoy bootstrap` invocation of the Secret script run
//     through the real CLI, against an address where nothing listens: exit
//     code 2 is a usage error (a flag or option refused before any call);
//   - the environment variables the binary reads, from its own help texts;
//   - the files `envoy bootstrap --out` writes, relative to the directory.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/mtlsgate/mtlsgate/cli"
	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/server"
)

type serveRun struct {
	Name string            `json:"name"`
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"`
}

type request struct {
	Serve     []serveRun `json:"serve"`
	Bootstrap [][]string `json:"bootstrap"`
}

// loaded is what the test needs of a loaded Config.
type loaded struct {
	Error          string   `json:"error,omitempty"`
	Data           string   `json:"data"`
	Store          string   `json:"store"`
	AdminAddr      string   `json:"admin_addr"`
	AuthzAddr      string   `json:"authz_addr"`
	XDSAddr        string   `json:"xds_addr"`
	HTTPSAddr      string   `json:"https_addr"`
	HTTPAddr       string   `json:"http_addr"`
	EtcdEndpoints  []string `json:"etcd_endpoints"`
	Files          []string `json:"files"`
	SealKeysSet    bool     `json:"seal_keys_set"`
	SealCreateFile bool     `json:"seal_create_key_file"`
}

type bootstrapResult struct {
	Args   []string `json:"args"`
	Code   int      `json:"code"`
	Stderr string   `json:"stderr"`
}

type response struct {
	Serve      map[string]loaded `json:"serve"`
	Bootstrap  []bootstrapResult `json:"bootstrap"`
	Env        []string          `json:"env"`
	EnvoyFiles []string          `json:"envoy_files"`
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "confcheck:", err)
		os.Exit(1)
	}
	resp := response{Serve: map[string]loaded{}}
	for _, r := range req.Serve {
		resp.Serve[r.Name] = load(r)
	}
	for _, args := range req.Bootstrap {
		resp.Bootstrap = append(resp.Bootstrap, bootstrap(args))
	}
	resp.Env = envNames()
	resp.EnvoyFiles = []string{envoy.BootstrapFile, envoy.CAFile, envoy.CertFile, envoy.KeyFile,
		envoy.NodeSecretFile, envoy.CASecretFile}
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		fmt.Fprintln(os.Stderr, "confcheck:", err)
		os.Exit(1)
	}
}

func load(r serveRun) loaded {
	if len(r.Args) == 0 || r.Args[0] != "serve" {
		return loaded{Error: fmt.Sprintf("the container runs %q, not mtlsgate serve", r.Args)}
	}
	cfg, err := server.LoadConfig(r.Args[1:], func(k string) string { return r.Env[k] }, io.Discard)
	if err != nil {
		return loaded{Error: err.Error()}
	}
	var files []string
	for _, f := range []string{cfg.TLS.CACertFile, cfg.TLS.CAKeyFile, cfg.TLS.CertFile, cfg.TLS.KeyFile,
		cfg.Etcd.CAFile, cfg.Etcd.CertFile, cfg.Etcd.KeyFile, cfg.Etcd.PasswordFile, cfg.Seal.KeyFile} {
		if f != "" {
			files = append(files, f)
		}
	}
	return loaded{Data: cfg.Data, Store: cfg.Store, AdminAddr: cfg.AdminAddr, AuthzAddr: cfg.AuthzAddr,
		XDSAddr: cfg.XDSAddr, HTTPSAddr: cfg.XDS.HTTPSAddr, HTTPAddr: cfg.XDS.HTTPAddr,
		EtcdEndpoints: cfg.Etcd.Endpoints, Files: files,
		SealKeysSet: r.Env[server.SealKeysEnv] != "", SealCreateFile: cfg.Seal.CreateKeyFile}
}

// bootstrap runs the CLI with args against an address where nothing
// listens, with a token, so that it stops at the API call at the latest.
func bootstrap(args []string) bootstrapResult {
	full := append([]string{"--server", "127.0.0.1:1", "--token", "not-a-token", "--ca-file", os.DevNull}, args...)
	var stderr bytes.Buffer
	code := cli.Run(context.Background(), full, func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
	return bootstrapResult{Args: args, Code: code, Stderr: stderr.String()}
}

var envName = regexp.MustCompile(`MTLSGATE_[A-Z0-9_]+`)

// envNames are the MTLSGATE_* variables named by serve's and the CLI's
// help, and the keyring's variable (which has no flag).
func envNames() []string {
	var help bytes.Buffer
	if _, err := server.LoadConfig([]string{"-h"}, func(string) string { return "" }, &help); !errors.Is(err, server.ErrHelp) {
		fmt.Fprintln(os.Stderr, "confcheck: serve -h:", err)
		os.Exit(1)
	}
	cli.Run(context.Background(), []string{"help"}, func(string) string { return "" }, strings.NewReader(""), &help, &help)
	seen := map[string]bool{server.SealKeysEnv: true}
	for _, n := range envName.FindAllString(help.String(), -1) {
		seen[n] = true
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
