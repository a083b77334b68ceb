package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// maxMessageSize bounds gRPC messages both ways: CRLs can be tens of MB.
const maxMessageSize = 128 << 20

// config is the resolved global settings of one command.
type config struct {
	server  string // host:port
	output  string // "table", "json" or "id"
	timeout time.Duration
}

// resolve applies flags, then environment variables, then defaults.
func (g *globals) resolve(env func(string) string) (config, error) {
	raw := defaultServer
	if g.server.set {
		raw = g.server.val
	} else if v := env(envServer); v != "" {
		raw = v
	}
	addr, err := parseServerAddr(raw)
	if err != nil {
		return config{}, err
	}
	c := config{server: addr, output: defaultOutput, timeout: defaultTimeout}
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

// parseServerAddr accepts "host:port" or "http://host:port" and returns
// "host:port".
func parseServerAddr(raw string) (string, error) {
	bad := func(why string) error {
		return usagef("invalid server address %q: %s (want host:port or http://host:port)", raw, why)
	}
	hostport := raw
	if i := strings.Index(raw, "://"); i >= 0 {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return "", bad("not a URL")
		case u.Scheme == "https":
			return "", bad("the admin API is plaintext gRPC, https is not supported")
		case u.Scheme != "http":
			return "", bad("unsupported scheme " + u.Scheme)
		case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			return "", bad("only scheme, host and port are allowed")
		}
		hostport = u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port == "" {
		return "", bad("missing port")
	}
	if host == "" {
		return "", bad("missing host")
	}
	return hostport, nil
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

// bearer sends the API token as authorization metadata with every call.
type bearer string

// GetRequestMetadata returns the authorization header of every call.
func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: the admin API is plaintext.
func (bearer) RequireTransportSecurity() bool { return false }

// dialAPI connects to the admin address in plaintext. The connection is made
// lazily, so failures surface as Unavailable from the first call.
func dialAPI(addr, token string) (pb.CertificateManagerServiceClient, io.Closer, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(token)),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallSendMsgSize(maxMessageSize),
			grpc.MaxCallRecvMsgSize(maxMessageSize)))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return pb.NewCertificateManagerServiceClient(conn), conn, nil
}
