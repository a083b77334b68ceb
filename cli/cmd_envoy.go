package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// envoyOptionFlags names the flag that sets each envoy.BootstrapOptions
// field, for error messages.
var envoyOptionFlags = map[string]string{
	"NodeID":    "node-id",
	"Cluster":   "cluster",
	"XDSAddr":   "xds",
	"AuthzAddr": "authz",
	"AdminAddr": "admin",
	"Dir":       "envoy-dir",
	// Overload protection.
	"MaxConnections": "max-connections",
	"MaxHeapBytes":   "max-heap",
}

// envoyBootstrapFlags are the flags of envoy bootstrap.
type envoyBootstrapFlags struct {
	o         envoy.BootstrapOptions
	out       string
	envoyDir  string
	lifetime  time.Duration
	plaintext bool
}

// envoyBootstrap is "envoy bootstrap --node-id ID [--cluster FLEET] [--xds
// ADDR] [--authz ADDR] [--delta] [--admin ADDR] (--out DIR [--envoy-dir
// PATH] [--lifetime D] | --insecure-plaintext)".
//
// With --out it makes the node's key, has mtlsgate's internal CA sign it
// (IssueNodeCertificate, an admin call) and writes the bootstrap and the
// credentials to DIR; run again, it renews them in place. With
// --insecure-plaintext it prints a plaintext bootstrap, offline, for a
// server started with the plaintext opt-out.
func envoyBootstrap(fs *flag.FlagSet) action {
	var f envoyBootstrapFlags
	fs.StringVar(&f.o.NodeID, "node-id", "", "node id, unique per Envoy")
	fs.StringVar(&f.o.Cluster, "cluster", "", "fleet name (default "+envoy.DefaultCluster+")")
	fs.StringVar(&f.o.XDSAddr, "xds", "", "mtlsgate xDS address; several replicas: comma-separated, health-checked with failover (default "+envoy.DefaultXDSAddr+")")
	fs.StringVar(&f.o.AuthzAddr, "authz", "", "mtlsgate ext_authz address as Envoy dials it (serve --authz-addr 0.0.0.0:9191 listens on every "+
		"address: give one of them here, never 0.0.0.0); several replicas: comma-separated, as --xds (default "+envoy.DefaultAuthzAddr+")")
	fs.BoolVar(&f.o.Delta, "delta", false, "use delta xDS")
	fs.StringVar(&f.o.AdminAddr, "admin", "", "Envoy admin address (default "+envoy.DefaultAdminAddr+")")
	fs.StringVar(&f.out, "out", "", "directory to write envoy.yaml and the node's credentials to")
	fs.StringVar(&f.envoyDir, "envoy-dir", "", "the --out directory as Envoy sees it, e.g. in a container (default: its absolute path)")
	fs.DurationVar(&f.lifetime, "lifetime", 0, "node certificate lifetime (default: the server's tls.node_cert_lifetime)")
	fs.BoolVar(&f.plaintext, "insecure-plaintext", false, "print a plaintext bootstrap, for a server started with the plaintext opt-out")
	fs.Int64Var(&f.o.MaxConnections, "max-connections", envoy.DefaultMaxConnections, "downstream connections Envoy accepts, all listeners together")
	fs.Func("max-heap", "memory Envoy's heap may use, e.g. 768Mi or 2Gi: at 95% Envoy frees memory, at 98% it refuses requests (default: no heap monitor)",
		func(v string) (err error) { f.o.MaxHeapBytes, err = parseBytes(v); return err })
	return func(ctx context.Context, s *session, _ []string) error {
		if f.o.NodeID == "" {
			return usagef("--node-id is required")
		}
		if f.plaintext {
			return printPlaintextBootstrap(s, f)
		}
		return writeBootstrapDir(ctx, s, f)
	}
}

// printPlaintextBootstrap prints a bootstrap without TLS, offline: it never
// calls the API, so it needs no token and dials nothing.
func printPlaintextBootstrap(s *session, f envoyBootstrapFlags) error {
	if f.out != "" || f.envoyDir != "" || f.lifetime != 0 {
		return usagef("--insecure-plaintext prints a bootstrap without credentials: it takes no --out, --envoy-dir or --lifetime")
	}
	f.o.Plaintext = true
	b, err := envoy.Bootstrap(f.o)
	if err != nil {
		return envoyOptionError(err)
	}
	out, err := renderBootstrap(b, s.cfg.output)
	if err != nil {
		return err
	}
	_, err = s.r.stdout.Write(out)
	return err
}

// writeBootstrapDir has the node's certificate issued and writes the
// directory. Every option is checked before the key is made and before the
// API is called.
func writeBootstrapDir(ctx context.Context, s *session, f envoyBootstrapFlags) error {
	if f.out == "" {
		return usagef("--out DIR is required: mtlsgate's xDS and ext_authz servers accept only nodes with a certificate " +
			"(--insecure-plaintext prints a plaintext bootstrap for a server started with the plaintext opt-out)")
	}
	if s.cfg.output == "id" {
		return usagef("-o id is not supported: the output is a summary, or JSON with -o json")
	}
	if f.lifetime < 0 || f.lifetime%time.Second != 0 {
		return usagef("invalid value %s for flag --lifetime: want a positive whole number of seconds", f.lifetime)
	}
	abs, err := filepath.Abs(f.out)
	if err != nil {
		return usagef("invalid value %q for flag --out: %v", f.out, err)
	}
	f.o.Dir = abs
	if f.envoyDir != "" {
		f.o.Dir = f.envoyDir
	}
	if _, err := envoy.Bootstrap(f.o); err != nil {
		return envoyOptionError(err)
	}
	o := f.o
	if o.Cluster == "" {
		o.Cluster = envoy.DefaultCluster
	}
	id := nodeid.Identity{Fleet: o.Cluster, Node: o.NodeID}
	keyPEM, csrPEM, err := envoy.NewNodeKey(o.NodeID)
	if err != nil {
		return err
	}
	api, err := s.api()
	if err != nil {
		return err
	}
	resp, err := api.IssueNodeCertificate(ctx, &pb.IssueNodeCertificateRequest{
		NodeId: id.Node, Fleet: id.Fleet, CsrPem: string(csrPEM), LifetimeSeconds: int64(f.lifetime / time.Second)})
	if err != nil {
		return err
	}
	creds := envoy.Credentials{CA: []byte(resp.GetCaPem()), Cert: []byte(resp.GetCertificatePem()), Key: keyPEM}
	err = checkIssued(creds, id, s.now())
	if err == nil {
		err = envoy.WriteDir(abs, f.o, creds, s.now())
	}
	if err != nil {
		// Nobody holds this certificate's key any more: revoke it rather
		// than leave a live certificate behind.
		serial := resp.GetCertificate().GetSerial()
		if _, rerr := api.RevokeNodeCertificate(ctx, &pb.RevokeNodeCertificateRequest{Serial: serial}); rerr != nil {
			return fmt.Errorf("%w (and revoking the certificate %s just issued failed: %v; revoke it with mtlsgate node revoke %s)", err, serial, rerr, serial)
		}
		return fmt.Errorf("%w (the certificate %s just issued was revoked)", err, serial)
	}
	return s.print(resp.GetCertificate(), func(w io.Writer) error { return writeIssued(w, abs, id, resp.GetCertificate()) })
}

// checkIssued refuses credentials the server got wrong: a certificate
// that is not for the key, the CA or the node asked for.
func checkIssued(c envoy.Credentials, want nodeid.Identity, now time.Time) error {
	leaf, err := c.Check(now)
	if err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	got, err := nodeid.FromCertificate(leaf)
	if err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	if got != want {
		return fmt.Errorf("the server's answer: a certificate for %s, not %s", got, want)
	}
	return nil
}

// writeIssued is the summary of a written directory.
func writeIssued(w io.Writer, dir string, id nodeid.Identity, c *pb.NodeCertificate) error {
	_, err := fmt.Fprintf(w, `wrote %s: %s, %s, %s, %s (mode 0600), %s/
node certificate %s for %s, valid until %s
renew before then: run this command again with --out %s (Envoy reloads the files; nothing restarts)
`, dir, envoy.BootstrapFile, envoy.CAFile, envoy.CertFile, envoy.KeyFile, envoy.SDSDir,
		c.GetSerial(), id, c.GetNotAfter().AsTime().UTC().Format(time.RFC3339), dir)
	return err
}

// renderBootstrap renders b as YAML, or as JSON with -o json.
func renderBootstrap(b *bootstrapv3.Bootstrap, output string) ([]byte, error) {
	switch output {
	case "json":
		return envoy.JSON(b)
	case "id":
		return nil, usagef("-o id is not supported: the bootstrap is YAML, or JSON with -o json")
	}
	return envoy.YAML(b)
}

// envoyOptionError turns a refused option into a usage error naming its
// flag; other errors pass unchanged.
func envoyOptionError(err error) error {
	var oe *envoy.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	return usagef("invalid value %q for flag --%s: %s", oe.Value, envoyOptionFlags[oe.Field], oe.Reason)
}

// parseBytes reads a size such as 1073741824, 768Mi or 2Gi.
func parseBytes(v string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			v, mult = n, m
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New("want bytes, or a whole number with Ki, Mi or Gi")
	}
	return n * mult, nil
}
