package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"

	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
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
	code, out, errOut := runOffline("envoy", "bootstrap", "--insecure-plaintext", "--node-id", "edge-1", "--cluster=eu-west",
		"--xds", "mtlsgate.internal:18000", "--authz", "mtlsgate.internal:9191", "--delta", "--admin", "127.0.0.1:9902")
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
	for _, want := range []string{"mtlsgate_xds", "mtlsgate_authz", "mtlsgate.internal", "port_value: 9191", "DELTA_GRPC", "port_value: 9902"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "transport_socket") {
		t.Errorf("a plaintext bootstrap has TLS:\n%s", out)
	}
	b, err := envoy.Bootstrap(envoy.BootstrapOptions{NodeID: "edge-1", Cluster: "eu-west",
		XDSAddr: "mtlsgate.internal:18000", AuthzAddr: "mtlsgate.internal:9191", Delta: true, AdminAddr: "127.0.0.1:9902", Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := envoy.YAML(b); out != string(want) {
		t.Errorf("output differs from envoy.YAML:\n%s", out)
	}
}

func TestEnvoyBootstrapDefaultsAndJSON(t *testing.T) {
	code, out, errOut := runOffline("-o", "json", "envoy", "bootstrap", "--node-id=envoy-1", "--insecure-plaintext")
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
	if code := r.main(context.Background(), []string{"envoy", "bootstrap", "--node-id", "n", "--insecure-plaintext"}); code != 0 {
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
		{"neither out nor plaintext", []string{"envoy", "bootstrap", "--node-id", "n"}, "--out DIR is required"},
		{"out and plaintext", []string{"envoy", "bootstrap", "--node-id", "n", "--out", "d", "--insecure-plaintext"}, "it takes no --out"},
		{"lifetime and plaintext", []string{"envoy", "bootstrap", "--node-id", "n", "--lifetime", "1h", "--insecure-plaintext"}, "it takes no --out, --envoy-dir or --lifetime"},
		{"node id with space", []string{"envoy", "bootstrap", "--insecure-plaintext", "--node-id", "a b"}, `invalid value "a b" for flag --node-id: must not contain spaces`},
		{"bad cluster", []string{"envoy", "bootstrap", "--insecure-plaintext", "--node-id", "n", "--cluster", "eu\twest"}, "for flag --cluster"},
		{"xds without port", []string{"envoy", "bootstrap", "--insecure-plaintext", "--node-id", "n", "--xds", "localhost"}, `invalid value "localhost" for flag --xds: want host:port`},
		{"xds unspecified", []string{"envoy", "bootstrap", "--insecure-plaintext", "--node-id", "n", "--xds", "0.0.0.0:18000"}, "unspecified"},
		{"authz without port", []string{"envoy", "bootstrap", "--insecure-plaintext", "--node-id", "n", "--authz", "localhost"}, `for flag --authz: want host:port`},
		// serve --authz-addr 0.0.0.0:9191 is a listen address; Envoy
		// needs one it can dial, and the bootstrap is the only place the
		// ext_authz address reaches Envoy (the control plane never sends it).
		{"authz unspecified v4", []string{"envoy", "bootstrap", "--insecure-plaintext", "--node-id", "n", "--authz", "0.0.0.0:9191"},
			`invalid value "0.0.0.0:9191" for flag --authz: host is the unspecified address; give an address Envoy can connect to`},
		{"authz unspecified v6", []string{"envoy", "bootstrap", "--insecure-plaintext", "--node-id", "n", "--authz", "[::]:9191"}, "for flag --authz: host is the unspecified"},
		{"authz no host", []string{"envoy", "bootstrap", "--insecure-plaintext", "--node-id", "n", "--authz", ":9191"}, "for flag --authz: missing host"},
		{"authz one replica unspecified", []string{"envoy", "bootstrap", "--node-id", "n", "--out", "d", "--authz", "10.0.0.1:9191,0.0.0.0:9191"}, "for flag --authz: host is the unspecified"},
		{"admin name", []string{"envoy", "bootstrap", "--insecure-plaintext", "--node-id", "n", "--admin", "localhost:9901"}, "for flag --admin: host must be an IP address"},
		{"positional", []string{"envoy", "bootstrap", "--node-id", "n", "extra"}, `unexpected argument "extra"`},
		{"unknown flag", []string{"envoy", "bootstrap", "--node", "n"}, "unknown flag --node"},
		{"flag without value", []string{"envoy", "bootstrap", "--node-id"}, "flag --node-id needs a value"},
		{"bad bool", []string{"envoy", "bootstrap", "--node-id", "n", "--delta=maybe"}, "--delta"},
		{"output id", []string{"-o", "id", "envoy", "bootstrap", "--node-id", "n", "--insecure-plaintext"}, "-o id is not supported"},
		{"output id with out", []string{"-o", "id", "envoy", "bootstrap", "--node-id", "n", "--out", "d"}, "-o id is not supported"},
		{"node id a certificate cannot carry", []string{"envoy", "bootstrap", "--node-id", "n/1", "--out", "d"}, `for flag --node-id: with credentials, node id`},
		{"fleet a certificate cannot carry", []string{"envoy", "bootstrap", "--node-id", "n", "--cluster", "..", "--out", "d"}, `for flag --cluster: with credentials, fleet`},
		{"relative envoy dir", []string{"envoy", "bootstrap", "--node-id", "n", "--out", "d", "--envoy-dir", "etc/envoy"}, "for flag --envoy-dir: must be an absolute"},
		{"negative lifetime", []string{"envoy", "bootstrap", "--node-id", "n", "--out", "d", "--lifetime", "-1h"}, "for flag --lifetime"},
		{"fractional lifetime", []string{"envoy", "bootstrap", "--node-id", "n", "--out", "d", "--lifetime", "1.5s"}, "for flag --lifetime"},
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

// nodeSigner answers IssueNodeCertificate as mtlsgate's internal CA would:
// a certificate for the CSR's key naming id (by default the node and
// fleet asked for), valid around testNow.
type nodeSigner struct {
	t  *testing.T
	ca *testpki.Cert
	id *nodeid.Identity // overrides the names asked for
}

func (n nodeSigner) issue(req proto.Message) (proto.Message, error) {
	r := req.(*pb.IssueNodeCertificateRequest)
	blk, _ := pem.Decode([]byte(r.GetCsrPem()))
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		n.t.Fatalf("CSR is not PEM: %q", r.GetCsrPem())
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		n.t.Fatalf("bad CSR: %v", err)
	}
	id := nodeid.Identity{Fleet: r.GetFleet(), Node: r.GetNodeId()}
	if n.id != nil {
		id = *n.id
	}
	u, _ := url.Parse(id.URI())
	tpl := &x509.Certificate{SerialNumber: big.NewInt(testNow.UnixNano()), Subject: pkix.Name{CommonName: id.Node},
		NotBefore: testNow.Add(-time.Minute), NotAfter: testNow.Add(24 * time.Hour), URIs: []*url.URL{u},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, n.ca.Cert, csr.PublicKey, n.ca.Key)
	if err != nil {
		n.t.Fatal(err)
	}
	return &pb.IssueNodeCertificateResponse{
		Certificate:    &pb.NodeCertificate{Serial: "0ABC", Fleet: id.Fleet, NodeId: id.Node, NotAfter: timestamppb.New(tpl.NotAfter)},
		CertificatePem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		CaPem:          string(n.ca.PEM()),
	}, nil
}

// TestEnvoyBootstrapOut: --out makes the key locally, sends only a CSR,
// and writes the bootstrap and credentials; a second run renews them in
// place with a new key.
func TestEnvoyBootstrapOut(t *testing.T) {
	ca := testpki.NewRoot(t, "mtlsgate CA", testpki.Options{})
	f := (&fakeAPI{}).on("IssueNodeCertificate", nodeSigner{t: t, ca: ca}.issue)
	dir := filepath.Join(t.TempDir(), "edge-1")
	args := []string{"envoy", "bootstrap", "--node-id", "edge-1", "--cluster", "eu-west", "--out", dir,
		"--xds", "10.0.0.1:18000", "--authz", "10.0.0.1:9191", "--lifetime", "48h"}
	code, out, errOut := runFake(f, testEnv{}, args...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	r := f.reqs[0].(*pb.IssueNodeCertificateRequest)
	if r.GetNodeId() != "edge-1" || r.GetFleet() != "eu-west" || r.GetLifetimeSeconds() != 48*3600 {
		t.Errorf("request %v", r)
	}
	for _, want := range []string{"wrote " + dir, "node certificate 0ABC for eu-west/edge-1, valid until 2026-06-02T00:00:00Z", "--out " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	key1 := readKey(t, dir)
	if fi, err := os.Stat(filepath.Join(dir, envoy.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node.key: %v, %v", fi, err)
	}
	boot, err := os.ReadFile(filepath.Join(dir, envoy.BootstrapFile))
	if err != nil {
		t.Fatal(err)
	}
	want, err := envoy.Bootstrap(envoy.BootstrapOptions{NodeID: "edge-1", Cluster: "eu-west", XDSAddr: "10.0.0.1:18000",
		AuthzAddr: "10.0.0.1:9191", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if y, _ := envoy.YAML(want); string(boot) != string(y) {
		t.Errorf("envoy.yaml:\n%s\nwant\n%s", boot, y)
	}
	if !strings.Contains(r.GetCsrPem(), "CERTIFICATE REQUEST") || strings.Contains(r.GetCsrPem(), "PRIVATE KEY") {
		t.Errorf("the request carries more than a CSR: %q", r.GetCsrPem())
	}

	// Renewal: the same command again; -o json prints the certificate.
	code, out, errOut = runFake(f, testEnv{}, append([]string{"-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("renewal: exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, `"serial": "0ABC"`) {
		t.Errorf("-o json output %q", out)
	}
	if key2 := readKey(t, dir); key2.Equal(key1) {
		t.Error("renewal kept the old key")
	}
}

// readKey reads dir/node.key and checks node.pem is its certificate.
func readKey(t *testing.T, dir string) *ecdsa.PrivateKey {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, envoy.CertFile), filepath.Join(dir, envoy.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	k, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || k.Curve != elliptic.P256() {
		t.Fatalf("node key %T is not P-256", pair.PrivateKey)
	}
	return k
}

// TestEnvoyBootstrapOutRefuses: a refused call or an answer that is not
// the node's certificate writes nothing.
func TestEnvoyBootstrapOutRefuses(t *testing.T) {
	ca := testpki.NewRoot(t, "mtlsgate CA", testpki.Options{})
	other := testpki.NewRoot(t, "other CA", testpki.Options{})
	wrongNode := nodeid.Identity{Fleet: "eu-west", Node: "edge-2"}
	wrongCA := func(req proto.Message) (proto.Message, error) {
		resp, err := nodeSigner{t: t, ca: ca}.issue(req)
		resp.(*pb.IssueNodeCertificateResponse).CaPem = string(other.PEM())
		return resp, err
	}
	tests := []struct {
		name    string
		handler func(proto.Message) (proto.Message, error)
		wantErr string
	}{
		{"refused", fail(codes.PermissionDenied, "admin only"), "admin only"},
		{"another node's certificate", nodeSigner{t: t, ca: ca, id: &wrongNode}.issue, "a certificate for eu-west/edge-2, not eu-west/edge-1"},
		{"another CA", wrongCA, "does not verify against the CA"},
		{"no certificate", reply(&pb.IssueNodeCertificateResponse{CaPem: string(ca.PEM())}), "node certificate and key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := (&fakeAPI{}).on("IssueNodeCertificate", tt.handler).
				on("RevokeNodeCertificate", reply(&pb.NodeCertificate{}))
			dir := filepath.Join(t.TempDir(), "edge-1")
			code, _, errOut := runFake(f, testEnv{}, "envoy", "bootstrap", "--node-id", "edge-1", "--cluster", "eu-west", "--out", dir)
			if code == 0 || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want a failure with %q", code, errOut, tt.wantErr)
			}
			// A certificate issued but not written is revoked: nobody
			// holds its key.
			issued := tt.name != "refused"
			if revoked := slices.Contains(f.calls, "RevokeNodeCertificate"); revoked != issued {
				t.Errorf("revoked=%v after %s, want %v (calls %v)", revoked, tt.name, issued, f.calls)
			}
			oneErrorLine(t, errOut)
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the directory was created: %v", err)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1073741824": 1 << 30, "768Mi": 768 << 20, "2Gi": 2 << 30, "64Ki": 64 << 10, "0": 0} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1G", "1.5Gi", "-1", "Gi", "9999999999Gi", "1 Gi"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) accepted", in)
		}
	}
}
