package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// maxMessageSize bounds gRPC messages both ways: CRLs can be tens of MB.
const maxMessageSize = 128 << 20

// config is the resolved global settings of one command.
type config struct {
	server    string // host:port
	plaintext bool   // http:// given: no TLS
	output    string // "table", "json" or "id"
	timeout   time.Duration
}

// resolve applies flags, then environment variables, then defaults. For a
// local command (one that never calls the API) the server address is not
// resolved and there is no timeout unless --timeout is given.
func (g *globals) resolve(env func(string) string, local bool) (config, error) {
	c := config{output: defaultOutput, timeout: defaultTimeout}
	if local {
		c.timeout = 0
	} else if err := g.resolveServer(env, &c); err != nil {
		return config{}, err
	}
	if g.output.set {
		c.output = g.output.val
	}
	if c.output != "table" && c.output != "json" && c.output != "id" {
		return config{}, usagef("invalid output format %q: want table, json or id", c.output)
	}
	if g.timeout.set {
		c.timeout = g.timeout.val
	}
	if c.timeout < 0 {
		return config{}, usagef("invalid --timeout %s: must not be negative", c.timeout)
	}
	return c, nil
}

// resolveServer sets the server address of c from --server, else
// MTLSGATE_SERVER, else the default.
func (g *globals) resolveServer(env func(string) string, c *config) error {
	raw := defaultServer
	if g.server.set {
		raw = g.server.val
	} else if v := env(envServer); v != "" {
		raw = v
	}
	addr, plaintext, err := parseServerAddr(raw)
	if err != nil {
		return err
	}
	c.server, c.plaintext = addr, plaintext
	return nil
}

// parseServerAddr accepts "host:port", "https://host:port" (both TLS) or
// "http://host:port" (plaintext, for a server started with
// --insecure-plaintext) and returns "host:port" and whether it is plaintext.
func parseServerAddr(raw string) (string, bool, error) {
	bad := func(why string) error {
		return usagef("invalid server address %q: %s (want host:port, https://host:port or http://host:port)", raw, why)
	}
	hostport, plaintext := raw, false
	if i := strings.Index(raw, "://"); i >= 0 {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return "", false, bad("not a URL")
		case u.Scheme != "http" && u.Scheme != "https":
			return "", false, bad("unsupported scheme " + u.Scheme)
		case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			return "", false, bad("only scheme, host and port are allowed")
		}
		hostport, plaintext = u.Host, u.Scheme == "http"
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port == "" {
		return "", false, bad("missing port")
	}
	if host == "" {
		return "", false, bad("missing host")
	}
	return hostport, plaintext, nil
}

// resolveToken finds the API token: --token, --token-file, MTLSGATE_TOKEN,
// MTLSGATE_TOKEN_FILE, in that order.
func resolveToken(g *globals, env func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	switch {
	case g.token.set:
		if strings.TrimSpace(g.token.val) == "" {
			return "", usagef("--token is empty")
		}
		return strings.TrimSpace(g.token.val), nil
	case g.tokenFile.set:
		return readTokenFile(g.tokenFile.val, readFile)
	case env(envToken) != "":
		return strings.TrimSpace(env(envToken)), nil
	case env(envTokenFile) != "":
		return readTokenFile(env(envTokenFile), readFile)
	}
	return "", fmt.Errorf("no API token: pass --token TOKEN or --token-file PATH, " +
		"or set MTLSGATE_TOKEN or MTLSGATE_TOKEN_FILE (the server writes its first admin token to a file)")
}

// readTokenFile reads a token file and trims the whitespace around it.
func readTokenFile(path string, readFile func(string) ([]byte, error)) (string, error) {
	b, err := readFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

// resolveCA finds the CA certificate that verifies the server: --ca-file,
// MTLSGATE_CA_FILE, ca.pem beside the token file (the server writes both
// into its data directory), $MTLSGATE_DATA/ca.pem, ./data/ca.pem. It
// returns the PEM and the path it came from.
func resolveCA(g *globals, env func(string) string, readFile func(string) ([]byte, error)) ([]byte, string, error) {
	explicit := g.caFile.val
	if !g.caFile.set {
		explicit = env(envCAFile)
	}
	if explicit != "" {
		b, err := readFile(explicit)
		if err != nil {
			return nil, "", fmt.Errorf("read CA file: %w", err)
		}
		return b, explicit, nil
	}
	var tried []string
	if tf := tokenFilePath(g, env); tf != "" {
		tried = append(tried, filepath.Join(filepath.Dir(tf), caFileName))
	}
	if d := env(envData); d != "" {
		tried = append(tried, filepath.Join(d, caFileName))
	}
	tried = append(tried, filepath.Join("data", caFileName))
	for _, p := range tried {
		if b, err := readFile(p); err == nil {
			return b, p, nil
		}
	}
	return nil, "", fmt.Errorf("no CA certificate to verify the server by (looked in %s): pass --ca-file PATH or set MTLSGATE_CA_FILE "+
		"(the server writes its CA to %s in its data directory)", strings.Join(tried, ", "), caFileName)
}

// caFileName is the CA certificate's name in the server's data directory.
const caFileName = "ca.pem"

// tokenFilePath is the token file given, if any.
func tokenFilePath(g *globals, env func(string) string) string {
	if g.tokenFile.set {
		return g.tokenFile.val
	}
	return env(envTokenFile)
}

// transport is how to reach the server: its address, and the CA that
// verifies it (nil in plaintext).
type transport struct {
	addr  string
	caPEM []byte
}

// bearer sends the API token as authorization metadata with every call.
type bearer struct {
	token string
	tls   bool
}

// GetRequestMetadata returns the authorization header of every call.
func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is true over TLS, so grpc never sends the
// token in the clear by mistake.
func (b bearer) RequireTransportSecurity() bool { return b.tls }

// dialAPI connects to the admin address, over TLS verified against
// t.caPEM, or in plaintext when t.caPEM is nil. The connection is made
// lazily, so failures surface as Unavailable from the first call.
func dialAPI(t transport, token string) (pb.CertificateManagerServiceClient, io.Closer, error) {
	creds := insecure.NewCredentials()
	if t.caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.caPEM) {
			return nil, nil, errors.New("the CA file holds no PEM certificate")
		}
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient("passthrough:///"+t.addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(bearer{token: token, tls: t.caPEM != nil}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallSendMsgSize(maxMessageSize),
			grpc.MaxCallRecvMsgSize(maxMessageSize)))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", t.addr, err)
	}
	return pb.NewCertificateManagerServiceClient(conn), conn, nil
}
