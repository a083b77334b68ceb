package xds_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/out")

// fixture is a State described in testdata/in/*.yaml. Certificates are
// read from testdata/certs, so that the golden output is stable.
type fixture struct {
	CAs []struct {
		ID, Name string
		Bundle   string // file names, concatenated
	} `yaml:"cas"`
	CRLs []struct {
		ID, File, CA string
	} `yaml:"crls"`
	Sites []struct {
		Hostname string    `yaml:"hostname"`
		Origin   string    `yaml:"origin_url"`
		Cert     string    `yaml:"cert"` // inline, from these files
		Key      string    `yaml:"key"`
		CertPath string    `yaml:"cert_path"` // or file paths on the Envoy host
		KeyPath  string    `yaml:"key_path"`
		CAs      []string  `yaml:"ca_ids"`
		Fleets   []string  `yaml:"fleets"`
		Settings yaml.Node `yaml:"settings"`
	} `yaml:"sites"`
	// Identities, each with the certificates bound to it (file names).
	Identities []struct {
		Name     string   `yaml:"name"`
		Disabled bool     `yaml:"disabled"`
		Certs    []string `yaml:"certs"`
	} `yaml:"identities"`
}

func readCert(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "certs", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadState builds the State a fixture describes, with settings
// normalised as the store would store them.
func loadState(t *testing.T, path string) *store.State {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var cas []*pb.ClientCA
	caCerts := map[string][]*x509.Certificate{}
	for _, c := range f.CAs {
		certs, err := pki.ParseCABundle(readCert(t, c.Bundle))
		if err != nil {
			t.Fatal(err)
		}
		caCerts[c.ID] = certs
		cas = append(cas, &pb.ClientCA{Id: c.ID, Name: c.Name, BundlePem: pki.EncodePEM(certs)})
	}
	var crls []*pb.CRL
	for _, c := range f.CRLs {
		rl, err := pki.ParseCRL(readCert(t, c.File))
		if err != nil {
			t.Fatal(err)
		}
		issuer, err := pki.CRLIssuer(rl, caCerts[c.CA])
		if err != nil {
			t.Fatal(err)
		}
		key := pki.IssuerKeyOf(issuer)
		crls = append(crls, &pb.CRL{Id: c.ID, Der: rl.Raw, CaId: c.CA, IssuerSha256Fingerprint: pki.Fingerprint(issuer.Raw),
			IssuerNameDer: []byte(key.Name), IssuerSpkiSha256: key.SPKI})
	}
	var sites []*pb.Site
	for _, s := range f.Sites {
		set := &pb.ClientCertSettings{}
		if s.Settings.Kind != 0 {
			var m map[string]any
			if err := s.Settings.Decode(&m); err != nil {
				t.Fatal(err)
			}
			j, _ := json.Marshal(m)
			if err := protojson.Unmarshal(j, set); err != nil {
				t.Fatalf("%s: settings of %s: %v", path, s.Hostname, err)
			}
		}
		if err := store.NormalizeSettings(set, store.Limits{}); err != nil {
			t.Fatal(err)
		}
		site := &pb.Site{Hostname: s.Hostname, OriginUrl: s.Origin, CaIds: s.CAs, Settings: set, Fleets: s.Fleets}
		if s.Cert != "" {
			site.ServerCertificate = &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
				CertificateChainPem: string(readCert(t, s.Cert)), PrivateKeyPem: string(readCert(t, s.Key))}}}
		} else {
			site.ServerCertificate = &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
				CertificateChainPath: s.CertPath, PrivateKeyPath: s.KeyPath}}}
		}
		sites = append(sites, site)
	}
	return withIdentities(t, &f, store.NewState(1, cas, sites, crls))
}

// withIdentities adds the fixture's identities to st, their certificates
// bound as BindCertificate would record them.
func withIdentities(t *testing.T, f *fixture, st *store.State) *store.State {
	t.Helper()
	if len(f.Identities) == 0 {
		return st
	}
	var ids []*pb.Identity
	for _, in := range f.Identities {
		id := &pb.Identity{Name: in.Name, Enabled: proto.Bool(!in.Disabled)}
		for _, file := range in.Certs {
			c, err := pki.ParseCertificates(readCert(t, file))
			if err != nil {
				t.Fatal(err)
			}
			id.Certificates = append(id.Certificates, &pb.BoundCertificate{Sha256Fingerprint: pki.Fingerprint(c[0].Raw),
				CertificatePem: pki.EncodePEM(c[:1]), SelfSigned: store.SelfSigned(c[0])})
		}
		ids = append(ids, id)
	}
	return st.WithIdentities(ids)
}

// toYAML renders resources as reviewable YAML: proto JSON field names,
// keys sorted.
func toYAML[M proto.Message](t *testing.T, ms []M) []byte {
	t.Helper()
	var docs []any
	for _, m := range ms {
		j, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(j, &v); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, v)
	}
	out, err := yaml.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGolden(t *testing.T) {
	ins, _ := filepath.Glob(filepath.Join("testdata", "in", "*.yaml"))
	if len(ins) == 0 {
		t.Fatal("no fixtures in testdata/in")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			res, err := xds.Translate(loadState(t, in), xds.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.SiteErrors) > 0 {
				t.Fatalf("sites left out: %v", res.SiteErrors)
			}
			// What a fleet no site names gets, then each named fleet's.
			compareFleet(t, name, &res.FleetResources)
			for fleet, fr := range res.Fleets {
				compareFleet(t, name+"@"+fleet, fr)
			}
		})
	}
}

// compareFleet compares one fleet's resources with the golden files
// testdata/out/<prefix>.<kind>.yaml.
func compareFleet(t *testing.T, prefix string, fr *xds.FleetResources) {
	t.Helper()
	for kind, got := range map[string][]byte{
		"listeners": toYAML(t, fr.Listeners), "routes": toYAML(t, fr.Routes),
		"clusters": toYAML(t, fr.Clusters), "secrets": toYAML(t, fr.Secrets),
	} {
		compareGolden(t, filepath.Join("testdata", "out", prefix+"."+kind+".yaml"), got)
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./xds -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the translation; review and run go test ./xds -update.\n%s", path, firstDiff(want, got))
	}
}

// firstDiff shows the first differing line.
func firstDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n- " + a + "\n+ " + b
		}
	}
	return ""
}
