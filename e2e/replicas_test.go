package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// etcdArgs are the flags of a replica on c (TLS with a client
// certificate), under the prefix /replicas/.
func etcdArgs(t *testing.T, c *etcdtest.Cluster, dir string) []string {
	t.Helper()
	cfg := writeFile(t, dir, "mtlsgate.yaml", fmt.Appendf(nil,
		"store: etcd\netcd:\n  endpoints: [%s]\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n  prefix: /replicas/\n",
		strings.Join(c.Endpoints(), ", "), c.CAFile, c.ClientCertFile, c.ClientKeyFile))
	return []string{"--config", cfg, "--admin-addr", "127.0.0.1:0", "--authz-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0"}
}

// etcdReplicas starts two `mtlsgate serve` replicas on c, under one
// prefix, sharing one seal key; the second gets the first's admin token.
func etcdReplicas(t *testing.T, c *etcdtest.Cluster) (a, b *instance) {
	t.Helper()
	dir := t.TempDir()
	args := etcdArgs(t, c, dir)
	a = serveArgs(t, filepath.Join(dir, "a"), args...)
	b = serveArgs(t, filepath.Join(dir, "b"), append(args, "--seal-key-file", filepath.Join(dir, "a", "seal.key"))...)
	if _, err := os.Stat(filepath.Join(b.data, "admin.token")); err == nil {
		t.Fatal("the second replica created an admin token of its own")
	}
	writeFile(t, b.data, "admin.token", []byte(a.adminToken(t)+"\n"))
	return a, b
}

// TestReplicasShareOneEtcdCluster: two replicas on a three-member etcd
// cluster (TLS, client certificates) are one installation. A node
// certificate issued by one is accepted by the other (the internal CA is
// shared through the store), and a change made through one reaches the
// other's API, Check and an ADS client within a second.
func TestReplicasShareOneEtcdCluster(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Members: 3, TLS: true})
	a, b := etcdReplicas(t, c)
	id := nodeid.Identity{Fleet: "default", Node: "edge-1"}
	node := a.issueNode(t, id)
	b.waitServed(t, node, id)

	dir := t.TempDir()
	root := testpki.NewRoot(t, "Replica Client CA", testpki.Options{})
	alice := root.Leaf(t, "alice", testpki.Options{})
	srv := root.Server(t, "app.example.com")
	caID := a.cli(t, "ca", "add", "--name", "replicas", writeFile(t, dir, "ca.pem", root.PEM()), "-o", "id")
	a.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	a.cli(t, "site", "assign", "app.example.com", caID)

	check := checkAs(t, b, node)
	eventually(t, time.Second, "alice allowed by the other replica", func() bool { return check(alice) })
	if out := b.cli(t, "site", "show", "app.example.com", "-o", "json"); !strings.Contains(out, caID) {
		t.Fatalf("the other replica's API does not show the assignment:\n%s", out)
	}

	stream := adsStream(t, b, node, id)
	first := stream.recv(t, "first push")
	stream.ack(t, first)
	if _, err := a.api(t).UpdateSiteSettings(a.authCtx(t), &pb.UpdateSiteSettingsRequest{Hostname: "app.example.com",
		Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE}, UpdateMask: []string{"mode"}}); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	if next := stream.recv(t, "push after the change"); next.GetVersionInfo() == first.GetVersionInfo() {
		t.Fatal("the push after the change has the old version")
	}
	if took := time.Since(returned); took > time.Second {
		t.Errorf("a change through one replica took %v to reach an ADS client of the other; the bound is 1s", took)
	}
}

// TestReplicaRidesOutAnEtcdOutage: with its cluster down a replica keeps
// answering Check from the last configuration, reports itself not ready
// (/readyz 503, mtlsgate_store_up 0), refuses writes as UNAVAILABLE, and
// recovers by itself when the cluster is back.
func TestReplicaRidesOutAnEtcdOutage(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{TLS: true})
	dir := t.TempDir()
	in := serveArgs(t, filepath.Join(dir, "data"), etcdArgs(t, c, dir)...)
	root := testpki.NewRoot(t, "Outage Client CA", testpki.Options{})
	alice, srv := root.Leaf(t, "alice", testpki.Options{}), root.Server(t, "app.example.com")
	caID := in.cli(t, "ca", "add", "--name", "outage", writeFile(t, dir, "ca.pem", root.PEM()), "-o", "id")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
	in.cli(t, "site", "assign", "app.example.com", caID)
	node := in.issueNode(t, nodeid.Identity{Fleet: "default", Node: "edge-1"})
	check := checkAs(t, in, node)
	eventually(t, time.Second, "alice allowed", func() bool { return check(alice) })

	c.Members[0].Kill()
	down := time.Now()
	eventually(t, 20*time.Second, "/readyz 503", func() bool { return in.status(t, "/readyz") == 503 })
	if !strings.Contains(in.metrics(t), "mtlsgate_store_up 0") {
		t.Error("mtlsgate_store_up is not 0 with the cluster down")
	}
	t.Logf("not ready %v after the cluster went down", time.Since(down))
	if !check(alice) {
		t.Fatal("Check stopped allowing alice with the cluster down")
	}
	_, err := in.api(t).UpdateSiteSettings(in.authCtx(t), &pb.UpdateSiteSettingsRequest{Hostname: "app.example.com",
		Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE}, UpdateMask: []string{"mode"}})
	if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "did not confirm the change") {
		t.Fatalf("a write with the cluster down: %v", err)
	}

	t.Logf("write refused %v after the cluster went down", time.Since(down))
	c.Members[0].Restart(t)
	up := time.Now()
	eventually(t, 30*time.Second, "/readyz 200 again", func() bool { return in.status(t, "/readyz") == 200 })
	t.Logf("ready %v after the cluster came back", time.Since(up))
	in.cli(t, "site", "set", "app.example.com", "mode=disabled")
	if !strings.Contains(in.metrics(t), "mtlsgate_store_up 1") {
		t.Error("mtlsgate_store_up is not 1 after the cluster came back")
	}
}

// checkAs returns a Check of alice-like certificates on app.example.com,
// through in's ext_authz as node n: whether it is allowed.
func checkAs(t *testing.T, in *instance, n issued) func(*testpki.Cert) bool {
	client := authv3.NewAuthorizationClient(in.dialNode(t, in.authz, in.nodeCreds(t, n)))
	return func(cert *testpki.Cert) bool {
		resp, err := client.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source:            &authv3.AttributeContext_Peer{Certificate: extract.EncodeNew(cert.PEM())},
			TlsSession:        &authv3.AttributeContext_TLSSession{Sni: "app.example.com"},
			ContextExtensions: map[string]string{"site": "app.example.com"},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Host: "app.example.com", Path: "/", Method: "GET"}},
		}})
		return err == nil && resp.GetOkResponse() != nil
	}
}

// status GETs path on the admin port without a token.
func (in *instance) status(t *testing.T, path string) int {
	t.Helper()
	resp, err := in.httpClient(t).Get("https://" + in.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metrics returns the /metrics page.
func (in *instance) metrics(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://"+in.admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+in.adminToken(t))
	resp, err := in.httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// ads is a state-of-the-world ADS stream for listeners, as Envoy opens.
type ads struct {
	node   *core.Node
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
}

// adsStream opens an ADS stream to in as node n and asks for listeners.
func adsStream(t *testing.T, in *instance, n issued, id nodeid.Identity) *ads {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(in.dialNode(t, in.xds, in.nodeCreds(t, n))).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := &ads{node: &core.Node{Id: id.Node, Cluster: id.Fleet}, stream: s}
	a.send(t, &discovery.DiscoveryRequest{})
	return a
}

func (a *ads) send(t *testing.T, r *discovery.DiscoveryRequest) {
	t.Helper()
	r.Node, r.TypeUrl = a.node, resourcev3.ListenerType
	if err := a.stream.Send(r); err != nil {
		t.Fatal(err)
	}
}

// ack acknowledges r.
func (a *ads) ack(t *testing.T, r *discovery.DiscoveryResponse) {
	t.Helper()
	a.send(t, &discovery.DiscoveryRequest{VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()})
}

// recv waits up to 15 s for the next response.
func (a *ads) recv(t *testing.T, what string) *discovery.DiscoveryResponse {
	t.Helper()
	type result struct {
		r   *discovery.DiscoveryResponse
		err error
	}
	ch := make(chan result, 1)
	go func() { r, err := a.stream.Recv(); ch <- result{r, err} }()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("%s: %v", what, res.err)
		}
		return res.r
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: nothing received in 15s", what)
	}
	return nil
}
