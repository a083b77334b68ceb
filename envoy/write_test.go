package envoy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
)

// TestBootstrapTLS: with a credentials directory both static clusters
// present the node secret and verify with the CA secret, both read from
// the SDS files of that directory and reloaded when sds/ changes.
func TestBootstrapTLS(t *testing.T) {
	b, err := Bootstrap(BootstrapOptions{NodeID: "n", Dir: "/creds"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{XDSClusterName, AuthzClusterName} {
		c := clusterOf(t, b, name)
		if c.GetTransportSocket().GetName() != tlsSocketName {
			t.Fatalf("%s: transport socket %q", name, c.GetTransportSocket().GetName())
		}
		up := &tlsv3.UpstreamTlsContext{}
		if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(up); err != nil {
			t.Fatal(err)
		}
		common := up.GetCommonTlsContext()
		if !slices.Equal(common.GetAlpnProtocols(), []string{"h2"}) {
			t.Errorf("%s: ALPN %v, want [h2]", name, common.GetAlpnProtocols())
		}
		certs := common.GetTlsCertificateSdsSecretConfigs()
		if len(certs) != 1 {
			t.Fatalf("%s: %d certificate secrets", name, len(certs))
		}
		for _, tc := range []struct {
			s          *tlsv3.SdsSecretConfig
			name, path string
		}{
			{certs[0], NodeSecretName, "/creds/sds/node.yaml"},
			{common.GetValidationContextSdsSecretConfig(), CASecretName, "/creds/sds/ca.yaml"},
		} {
			pcs := tc.s.GetSdsConfig().GetPathConfigSource()
			if tc.s.GetName() != tc.name || pcs.GetPath() != tc.path || pcs.GetWatchedDirectory().GetPath() != "/creds/sds" {
				t.Errorf("%s: secret %v, want %s from %s watching /creds/sds", name, tc.s, tc.name, tc.path)
			}
		}
	}
	plain, err := Bootstrap(BootstrapOptions{NodeID: "n", Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plain.GetStaticResources().GetClusters() {
		if c.GetTransportSocket() != nil {
			t.Errorf("plaintext bootstrap: %s has a transport socket", c.GetName())
		}
	}
}

// TestSecretFiles: the SDS files read back, as Envoy reads them, into one
// valid secret each, naming the PEM files and requiring the server URI.
func TestSecretFiles(t *testing.T) {
	node := parseSecretFile(t, renderSecret(t, NodeSecret, "/creds"))
	if node.GetName() != NodeSecretName || node.GetTlsCertificate().GetCertificateChain().GetFilename() != "/creds/node.pem" ||
		node.GetTlsCertificate().GetPrivateKey().GetFilename() != "/creds/node.key" ||
		node.GetTlsCertificate().GetWatchedDirectory().GetPath() != "/creds/sds" {
		t.Errorf("node secret %v", node)
	}
	ca := parseSecretFile(t, renderSecret(t, CASecret, "/creds"))
	vc := ca.GetValidationContext()
	sans := vc.GetMatchTypedSubjectAltNames()
	if ca.GetName() != CASecretName || vc.GetTrustedCa().GetFilename() != "/creds/ca.pem" || vc.GetWatchedDirectory().GetPath() != "/creds/sds" ||
		len(sans) != 1 || sans[0].GetSanType() != tlsv3.SubjectAltNameMatcher_URI || sans[0].GetMatcher().GetExact() != nodeid.ServerURI {
		t.Errorf("CA secret %v", ca)
	}
}

// parseSecretFile reads an SDS file's one secret, validated.
func parseSecretFile(t *testing.T, y []byte) *tlsv3.Secret {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(y, &v); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	r := &discoveryv3.DiscoveryResponse{}
	if err := protojson.Unmarshal(js, r); err != nil {
		t.Fatalf("not a DiscoveryResponse: %v", err)
	}
	if len(r.GetResources()) != 1 {
		t.Fatalf("%d resources, want 1", len(r.GetResources()))
	}
	s := &tlsv3.Secret{}
	if err := r.GetResources()[0].UnmarshalTo(s); err != nil {
		t.Fatal(err)
	}
	if err := s.ValidateAll(); err != nil {
		t.Error(err)
	}
	return s
}

// nodeCreds issues credentials for a node from ca.
func nodeCreds(t *testing.T, ca *testpki.Cert, node string) Credentials {
	t.Helper()
	leaf := ca.Leaf(t, node, testpki.Options{URIs: []string{"spiffe://mtlsgate/fleet/f/node/" + node}})
	return Credentials{CA: ca.PEM(), Cert: leaf.PEM(), Key: leaf.KeyPEM()}
}

func TestWriteDir(t *testing.T) {
	ca := testpki.NewRoot(t, "mtlsgate CA", testpki.Options{})
	dir := filepath.Join(t.TempDir(), "parent", "edge-1")
	o := BootstrapOptions{NodeID: "edge-1", Cluster: "f"}
	first := nodeCreds(t, ca, "edge-1")
	if err := WriteDir(dir, o, first, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantModes := map[string]os.FileMode{".": 0o700, SDSDir: 0o700, KeyFile: 0o600, CertFile: 0o644, CAFile: 0o644,
		BootstrapFile: 0o644, NodeSecretFile: 0o644, CASecretFile: 0o644}
	for name, mode := range wantModes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	checkFiles(t, dir, first)
	b := parseYAML(t, readFile(t, dir, BootstrapFile))
	if want, _ := Bootstrap(BootstrapOptions{NodeID: "edge-1", Cluster: "f", Dir: dir}); !proto.Equal(b, want) {
		t.Errorf("envoy.yaml is not the bootstrap for %s:\n%v", dir, b)
	}
	if s := parseSecretFile(t, readFile(t, dir, NodeSecretFile)); s.GetTlsCertificate().GetPrivateKey().GetFilename() != filepath.Join(dir, KeyFile) {
		t.Errorf("node secret names %v", s.GetTlsCertificate().GetPrivateKey())
	}

	// A second run renews in place: new files, same modes, no leftovers.
	second := nodeCreds(t, ca, "edge-1")
	if err := WriteDir(dir, o, second, time.Now()); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, second)
	if fi, _ := os.Stat(filepath.Join(dir, KeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("renewed key mode %v", fi.Mode().Perm())
	}
	for _, d := range []string{dir, filepath.Join(dir, SDSDir)} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temporary file %s left in %s", e.Name(), d)
			}
		}
	}
}

// checkFiles asserts the PEM files of dir hold c.
func checkFiles(t *testing.T, dir string, c Credentials) {
	t.Helper()
	for name, want := range map[string][]byte{CAFile: c.CA, CertFile: c.Cert, KeyFile: c.Key} {
		if got := readFile(t, dir, name); !bytes.Equal(got, want) {
			t.Errorf("%s does not hold the credentials written", name)
		}
	}
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWriteDirRefuses: bad credentials or an unsafe directory change
// nothing on disk.
func TestWriteDirRefuses(t *testing.T) {
	ca := testpki.NewRoot(t, "mtlsgate CA", testpki.Options{})
	other := testpki.NewRoot(t, "other CA", testpki.Options{})
	good := nodeCreds(t, ca, "n")
	otherKey := nodeCreds(t, ca, "n").Key
	expired := ca.Leaf(t, "n", testpki.Options{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	server := ca.Server(t, "n.example")
	tests := []struct {
		name   string
		c      Credentials
		o      BootstrapOptions
		mode   os.FileMode // of an existing directory; 0: none
		wantIn string
	}{
		{"key of another certificate", Credentials{CA: good.CA, Cert: good.Cert, Key: otherKey}, BootstrapOptions{NodeID: "n"}, 0, "private key does not match"},
		{"certificate of another CA", Credentials{CA: other.PEM(), Cert: good.Cert, Key: good.Key}, BootstrapOptions{NodeID: "n"}, 0, "does not verify"},
		{"expired", Credentials{CA: good.CA, Cert: expired.PEM(), Key: expired.KeyPEM()}, BootstrapOptions{NodeID: "n"}, 0, "does not verify"},
		{"server certificate", Credentials{CA: good.CA, Cert: server.PEM(), Key: server.KeyPEM()}, BootstrapOptions{NodeID: "n"}, 0, "does not verify"},
		{"no CA", Credentials{CA: []byte("junk"), Cert: good.Cert, Key: good.Key}, BootstrapOptions{NodeID: "n"}, 0, "no PEM certificate"},
		{"bad node id", good, BootstrapOptions{NodeID: "a b"}, 0, "invalid NodeID"},
		{"plaintext", good, BootstrapOptions{NodeID: "n", Plaintext: true}, 0, "plaintext bootstrap has no credentials"},
		{"group-writable directory", good, BootstrapOptions{NodeID: "n"}, 0o770, "writable by group or others"},
		{"world-writable directory", good, BootstrapOptions{NodeID: "n"}, 0o703, "writable by group or others"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "creds")
			if tt.mode != 0 {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteDir(dir, tt.o, tt.c, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantIn)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Errorf("files written despite the error: %v", entries)
			}
		})
	}
}

func TestNewNodeKey(t *testing.T) {
	keyPEM, csrPEM, err := NewNodeKey("edge-1")
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(keyPEM)
	cb, _ := pem.Decode(csrPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" || cb == nil || cb.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("PEM types %v, %v", kb, cb)
	}
	csr, err := x509.ParseCertificateRequest(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if csr.PublicKeyAlgorithm != x509.ECDSA || !key.(*ecdsa.PrivateKey).PublicKey.Equal(csr.PublicKey) {
		t.Errorf("CSR key %v does not match the private key", csr.PublicKeyAlgorithm)
	}
	if csr.Subject.CommonName != "edge-1" {
		t.Errorf("CSR subject %v", csr.Subject)
	}
}
