package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
)

// distributionPoint serves one CRL on loopback, replaceable.
type distributionPoint struct {
	*httptest.Server
	mu       sync.Mutex
	crl      []byte
	requests atomic.Int64
}

func newDistributionPoint(t *testing.T, crl []byte) *distributionPoint {
	t.Helper()
	d := &distributionPoint{crl: crl}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.requests.Add(1)
		d.mu.Lock()
		defer d.mu.Unlock()
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(d.crl)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *distributionPoint) publish(crl []byte) {
	d.mu.Lock()
	d.crl = crl
	d.mu.Unlock()
}

// fetchConfig is the YAML that lets the fetcher reach loopback and
// refresh at test speed, after extra (a store section).
func fetchConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	return writeFile(t, dir, "mtlsgate.yaml", []byte(extra+`revocation:
  fetch:
    min_interval: 100ms
    retry_min: 100ms
    retry_max: 1s
  outbound:
    allow_nets: [127.0.0.0/8]
`))
}

// crlPKI is a root and an intermediate whose distribution point names the
// root's CRL on d, alice issued by the intermediate.
type crlPKI struct {
	root, inter, alice *testpki.Cert
	d                  *distributionPoint
}

func newCRLPKI(t *testing.T) *crlPKI {
	t.Helper()
	p := &crlPKI{root: testpki.NewRoot(t, "Fetched Root", testpki.Options{})}
	now := time.Now()
	// Past its refresh point from the start (a 80 s life, 20 s left): the
	// fetcher checks again after a quarter of what is left, at test speed.
	p.d = newDistributionPoint(t, p.root.CRL(t, 1, now.Add(-time.Minute), now.Add(20*time.Second)))
	p.inter = p.root.Intermediate(t, "Fetched Issuing", testpki.Options{CRLDPs: []string{p.d.URL + "/root.crl"}})
	p.alice = p.inter.Leaf(t, "alice", testpki.Options{})
	return p
}

// siteWithChainCRL uploads the bundle and an enforcing site checking the
// whole chain against CRLs.
func (p *crlPKI) siteWithChainCRL(t *testing.T, in *instance, dir string) {
	t.Helper()
	srv := p.root.Server(t, "app.example.com")
	caID := in.cli(t, "ca", "add", "--name", "fetched", writeFile(t, dir, "bundle.pem", testpki.Bundle(p.root, p.inter)), "-o", "id")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	in.cli(t, "site", "assign", "app.example.com", caID)
	in.cli(t, "site", "set", "app.example.com", "revocation.crl=chain")
}

// metricValue reads one unlabelled metric from the /metrics page.
func metricValue(t *testing.T, in *instance, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(in.metrics(t))
	if m == nil {
		return ""
	}
	return m[1]
}

// TestCRLFetchedFromDistributionPoint: the CRL named by the intermediate's
// distribution point is fetched without any upload, listed with its
// source, and refreshed before it expires: revoking the intermediate at
// the distribution point denies alice within one refresh.
func TestCRLFetchedFromDistributionPoint(t *testing.T) {
	dir := t.TempDir()
	in := serveArgs(t, filepath.Join(dir, "data"), "--config", fetchConfig(t, dir, ""),
		"--admin-addr", "127.0.0.1:0", "--authz-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0")
	p := newCRLPKI(t)
	p.siteWithChainCRL(t, in, dir)
	check := checkAs(t, in, in.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"}))
	eventually(t, 10*time.Second, "the CRL fetched", func() bool {
		return strings.Contains(in.cli(t, "crl", "list", "-o", "json"), p.d.URL+"/root.crl")
	})
	if !waitFor(5*time.Second, func() bool { return check(p.alice) }) {
		t.Fatalf("alice not allowed:\n%s", in.logs)
	}

	now := time.Now()
	p.d.publish(p.root.CRL(t, 2, now, now.Add(time.Hour), p.inter.Cert.SerialNumber))
	eventually(t, 10*time.Second, "alice denied once the intermediate is revoked at the distribution point", func() bool { return !check(p.alice) })
	if got := metricValue(t, in, "mtlsgate_crl_fetch_sources"); got != "1" {
		t.Errorf("mtlsgate_crl_fetch_sources %q, want 1", got)
	}
	if m := in.metrics(t); !strings.Contains(m, `mtlsgate_crl_fetch_attempts_total{result="stored"} 2`) {
		t.Errorf("stored attempts not counted:\n%s", grepLines(m, "mtlsgate_crl_fetch"))
	}
}

// TestCRLURLSetByOperator: a CA whose certificates name no distribution
// point gets its CRL fetched from the URL set with the CLI, and a client
// certificate it lists is denied.
func TestCRLURLSetByOperator(t *testing.T) {
	dir := t.TempDir()
	in := serveArgs(t, filepath.Join(dir, "data"), "--config", fetchConfig(t, dir, ""),
		"--admin-addr", "127.0.0.1:0", "--authz-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0")
	root := testpki.NewRoot(t, "Issuing Without DP", testpki.Options{})
	bob, carol := root.Leaf(t, "bob", testpki.Options{}), root.Leaf(t, "carol", testpki.Options{})
	now := time.Now()
	d := newDistributionPoint(t, root.CRL(t, 1, now.Add(-time.Minute), now.Add(time.Hour), bob.Cert.SerialNumber))
	srv := root.Server(t, "app.example.com")
	caID := in.cli(t, "ca", "add", "--name", "issuing", writeFile(t, dir, "ca.pem", root.PEM()), "-o", "id")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	in.cli(t, "site", "assign", "app.example.com", caID)
	in.cli(t, "site", "set", "app.example.com", "revocation.crl=leaf")
	if out := in.cli(t, "ca", "set", caID, "--crl-url", d.URL+"/issuing.crl"); !strings.Contains(out, d.URL+"/issuing.crl") {
		t.Fatalf("ca set: %s", out)
	}
	check := checkAs(t, in, in.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"}))
	eventually(t, 10*time.Second, "bob denied by the fetched CRL", func() bool { return !check(bob) && check(carol) })
}

// TestDistributionPointLearnedFromClientCertificate: the CRL an issuing
// CA publishes for its client certificates, named only by them, is
// fetched once a Check has seen one: alice's Check teaches the URL, and
// carol, listed on that CRL, is denied.
func TestDistributionPointLearnedFromClientCertificate(t *testing.T) {
	dir := t.TempDir()
	in := serveArgs(t, filepath.Join(dir, "data"), "--config", fetchConfig(t, dir, ""),
		"--admin-addr", "127.0.0.1:0", "--authz-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0")
	root := testpki.NewRoot(t, "Learning Root", testpki.Options{})
	inter := root.Intermediate(t, "Learning Issuing", testpki.Options{})
	d := newDistributionPoint(t, nil)
	dp := testpki.Options{CRLDPs: []string{d.URL + "/issuing.crl"}}
	alice, carol := inter.Leaf(t, "alice", dp), inter.Leaf(t, "carol", dp)
	now := time.Now()
	d.publish(inter.CRL(t, 1, now.Add(-time.Minute), now.Add(time.Hour), carol.Cert.SerialNumber))
	srv := root.Server(t, "app.example.com")
	caID := in.cli(t, "ca", "add", "--name", "learning", writeFile(t, dir, "bundle.pem", testpki.Bundle(root, inter)), "-o", "id")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	in.cli(t, "site", "assign", "app.example.com", caID)
	in.cli(t, "site", "set", "app.example.com", "revocation.crl=leaf")
	check := checkAs(t, in, in.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"}))
	eventually(t, 5*time.Second, "alice allowed", func() bool { return check(alice) })
	eventually(t, 10*time.Second, "carol denied once alice's Check taught the distribution point", func() bool { return !check(carol) })
	if !check(alice) {
		t.Fatal("alice denied by her issuer's CRL")
	}
	if !strings.Contains(in.logs.String(), "CRL distribution point learned from a client certificate") {
		t.Error("the learning was not logged")
	}
}

// TestElectedReplicaFetches: of two replicas on etcd, one fetches; when
// it stops, the other takes over and keeps the CRL current.
func TestElectedReplicaFetches(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{TLS: true})
	dir := t.TempDir()
	store := fmt.Sprintf("store: etcd\netcd:\n  endpoints: [%s]\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n  prefix: /fetch/\n",
		strings.Join(c.Endpoints(), ", "), c.CAFile, c.ClientCertFile, c.ClientKeyFile)
	args := []string{"--config", fetchConfig(t, dir, store), "--admin-addr", "127.0.0.1:0", "--authz-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0"}
	a := serveArgs(t, filepath.Join(dir, "a"), args...)
	b := serveArgs(t, filepath.Join(dir, "b"), append(args, "--seal-key-file", filepath.Join(dir, "a", "seal.key"))...)
	writeFile(t, b.data, "admin.token", []byte(a.adminToken(t)+"\n"))
	p := newCRLPKI(t)
	p.siteWithChainCRL(t, a, dir)
	eventually(t, 10*time.Second, "the CRL fetched", func() bool {
		return strings.Contains(b.cli(t, "crl", "list", "-o", "json"), p.d.URL+"/root.crl")
	})
	// Both replicas' APIs show what the fetching one did.
	for _, in := range []*instance{a, b} {
		eventually(t, 10*time.Second, "the source's status in the API", func() bool {
			out := in.cli(t, "crl", "sources", "-o", "json")
			return strings.Contains(out, p.d.URL+"/root.crl") && strings.Contains(out, `"crl_id"`) && !strings.Contains(out, `"failures"`)
		})
	}
	var leader, other *instance
	eventually(t, 10*time.Second, "one replica fetching", func() bool {
		sa, sb := metricValue(t, a, "mtlsgate_crl_fetch_sources"), metricValue(t, b, "mtlsgate_crl_fetch_sources")
		switch {
		case sa == "1" && sb == "0":
			leader, other = a, b
		case sa == "0" && sb == "1":
			leader, other = b, a
		}
		return leader != nil
	})
	leader.stop(t)
	now := time.Now()
	p.d.publish(p.root.CRL(t, 7, now, now.Add(time.Hour)))
	eventually(t, 20*time.Second, "the other replica fetching", func() bool {
		return metricValue(t, other, "mtlsgate_crl_fetch_sources") == "1"
	})
	eventually(t, 10*time.Second, "CRL 7 stored by the new fetcher", func() bool {
		return strings.Contains(other.cli(t, "crl", "list", "-o", "json"), `"number": "7"`)
	})
}

// grepLines keeps the lines of s containing substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitFor polls cond until it holds or within has passed.
func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
