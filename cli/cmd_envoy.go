package cli

import (
	"context"
	"errors"
	"flag"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/mtlsgate/mtlsgate/envoy"
)

// envoyOptionFlags names the flag that sets each envoy.BootstrapOptions
// field, for error messages.
var envoyOptionFlags = map[string]string{
	"NodeID":    "node-id",
	"Cluster":   "cluster",
	"XDSAddr":   "xds",
	"AdminAddr": "admin",
}

// envoyBootstrap is "envoy bootstrap --node-id ID [--cluster FLEET]
// [--xds ADDR] [--delta] [--admin ADDR]". It prints an Envoy bootstrap as
// YAML (JSON with -o json) and works offline: it never calls s.api, so it
// needs no token and dials nothing.
func envoyBootstrap(fs *flag.FlagSet) action {
	var o envoy.BootstrapOptions
	fs.StringVar(&o.NodeID, "node-id", "", "node id, unique per Envoy")
	fs.StringVar(&o.Cluster, "cluster", "", "fleet name (default "+envoy.DefaultCluster+")")
	fs.StringVar(&o.XDSAddr, "xds", "", "mtlsgate xDS address (default "+envoy.DefaultXDSAddr+")")
	fs.BoolVar(&o.Delta, "delta", false, "use delta xDS")
	fs.StringVar(&o.AdminAddr, "admin", "", "Envoy admin address (default "+envoy.DefaultAdminAddr+")")
	return func(_ context.Context, s *session, _ []string) error {
		if o.NodeID == "" {
			return usagef("--node-id is required")
		}
		b, err := envoy.Bootstrap(o)
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
