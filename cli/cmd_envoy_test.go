package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"

	"github.com/mtlsgate/mtlsgate/envoy"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// runOffline runs args through Run with an empty environment: no token, no
// server address.
func runOffline(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	noEnv := func(string) string { return "" }
	code := Run(context.Background(), args, noEnv, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestEnvoyBootstrap(t *testing.T) {
	code, out, errOut := runOffline("envoy", "bootstrap", "--node-id", "edge-1", "--cluster=eu-west",
		"--xds", "mtlsgate.internal:18000", "--delta", "--admin", "127.0.0.1:9902")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var doc struct {
		Node struct{ ID, Cluster string }
	}
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out)
	}
	if doc.Node.ID != "edge-1" || doc.Node.Cluster != "eu-west" {
		t.Errorf("node %+v, want edge-1 in eu-west", doc.Node)
	}
	for _, want := range []string{"mtlsgate_xds", "mtlsgate.internal", "DELTA_GRPC", "port_value: 9902"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := envoy.Bootstrap(envoy.BootstrapOptions{NodeID: "edge-1", Cluster: "eu-west",
		XDSAddr: "mtlsgate.internal:18000", Delta: true, AdminAddr: "127.0.0.1:9902"})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := envoy.YAML(b); out != string(want) {
		t.Errorf("output differs from envoy.YAML:\n%s", out)
	}
}

func TestEnvoyBootstrapDefaultsAndJSON(t *testing.T) {
	code, out, errOut := runOffline("-o", "json", "envoy", "bootstrap", "--node-id=envoy-1")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal([]byte(out), b); err != nil {
		t.Fatalf("output is not a JSON bootstrap: %v\n%s", err, out)
	}
	if b.GetNode().GetId() != "envoy-1" || b.GetNode().GetCluster() != envoy.DefaultCluster {
		t.Errorf("node %v, want envoy-1 in the default fleet", b.GetNode())
	}
	if got := b.GetStaticResources().GetClusters()[0].GetName(); got != envoy.XDSClusterName {
		t.Errorf("static cluster %q, want %q", got, envoy.XDSClusterName)
	}
}

func TestEnvoyBootstrapNeverDials(t *testing.T) {
	var stdout, stderr bytes.Buffer
	r := &runner{
		env:      func(string) string { return "" },
		stdin:    strings.NewReader(""),
		stdout:   &stdout,
		stderr:   &stderr,
		now:      func() time.Time { return testNow },
		readFile: fakeFiles(nil),
		dial: func(transport, string) (pb.CertificateManagerServiceClient, io.Closer, error) {
			t.Error("envoy bootstrap dialed the API")
			return nil, nil, errors.New("no dialing")
		},
	}
	if code := r.main(context.Background(), []string{"envoy", "bootstrap", "--node-id", "n"}); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestEnvoyBootstrapUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no node id", []string{"envoy", "bootstrap"}, "envoy bootstrap: --node-id is required"},
		{"empty node id", []string{"envoy", "bootstrap", "--node-id="}, "--node-id is required"},
		{"node id with space", []string{"envoy", "bootstrap", "--node-id", "a b"}, `invalid value "a b" for flag --node-id: must not contain spaces`},
		{"bad cluster", []string{"envoy", "bootstrap", "--node-id", "n", "--cluster", "eu\twest"}, "for flag --cluster"},
		{"xds without port", []string{"envoy", "bootstrap", "--node-id", "n", "--xds", "localhost"}, `invalid value "localhost" for flag --xds: want host:port`},
		{"xds unspecified", []string{"envoy", "bootstrap", "--node-id", "n", "--xds", "0.0.0.0:18000"}, "unspecified"},
		{"admin name", []string{"envoy", "bootstrap", "--node-id", "n", "--admin", "localhost:9901"}, "for flag --admin: host must be an IP address"},
		{"positional", []string{"envoy", "bootstrap", "--node-id", "n", "extra"}, `unexpected argument "extra"`},
		{"unknown flag", []string{"envoy", "bootstrap", "--node", "n"}, "unknown flag --node"},
		{"flag without value", []string{"envoy", "bootstrap", "--node-id"}, "flag --node-id needs a value"},
		{"bad bool", []string{"envoy", "bootstrap", "--node-id", "n", "--delta=maybe"}, "--delta"},
		{"output id", []string{"-o", "id", "envoy", "bootstrap", "--node-id", "n"}, "-o id is not supported"},
		{"no subcommand", []string{"envoy"}, "envoy: missing subcommand, want one of: bootstrap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runOffline(tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			oneErrorLine(t, errOut)
			if !strings.Contains(errOut, tt.wantErr) || out != "" {
				t.Errorf("stderr %q, want it to contain %q; stdout %q", errOut, tt.wantErr, out)
			}
		})
	}
}
