package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestControlPlaneFollowsTheCLI: an ADS client (what Envoy runs) gets a
// change made with the CLI within a second, and a rejection it sends back
// shows on the site.
func TestControlPlaneFollowsTheCLI(t *testing.T) {
	dir := t.TempDir()
	in := serve(t, filepath.Join(dir, "data"))
	root := testpki.NewRoot(t, "E2E Client CA", testpki.Options{})
	srv := root.Server(t, "app.example.com")
	in.cli(t, "site", "put", "app.example.com", "--cert", writeFile(t, dir, "srv.pem", srv.PEM()),
		"--key", writeFile(t, dir, "srv.key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080")
	// With a CA, enforcing changes the site's filter chain (a site without
	// one asks for no certificate in any mode: nothing for Envoy to change).
	in.cli(t, "ca", "add", "--name", "clients", writeFile(t, dir, "ca.pem", root.PEM()), "--site", "app.example.com")

	conn := in.dialNode(t, in.xds, in.nodeCreds(t, in.issueNode(t, nodeid.Identity{Fleet: "eu", Node: "edge-1"})))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &core.Node{Id: "edge-1", Cluster: "eu"}
	send := func(r *discovery.DiscoveryRequest) {
		t.Helper()
		r.Node, r.TypeUrl = node, resourcev3.ListenerType
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	recv := func(what string) *discovery.DiscoveryResponse {
		t.Helper()
		type result struct {
			r   *discovery.DiscoveryResponse
			err error
		}
		ch := make(chan result, 1)
		go func() { r, err := stream.Recv(); ch <- result{r, err} }()
		select {
		case res := <-ch:
			if res.err != nil {
				t.Fatalf("%s: %v", what, res.err)
			}
			return res.r
		case <-time.After(15 * time.Second):
			in.dump(t, what+": nothing received in 15s")
		}
		return nil
	}
	send(&discovery.DiscoveryRequest{})
	first := recv("first push")
	if len(first.GetResources()) != 2 {
		t.Fatalf("first push: %v", first)
	}
	send(&discovery.DiscoveryRequest{VersionInfo: first.GetVersionInfo(), ResponseNonce: first.GetNonce()})

	// Enforcing changes the site's filter chain: Envoy must have it within
	// 1 s of the API call returning.
	api := in.api(t)
	if _, err := api.UpdateSiteSettings(in.authCtx(t), &pb.UpdateSiteSettingsRequest{Hostname: "app.example.com",
		Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}, UpdateMask: []string{"mode"}}); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	second := recv("push after the change")
	if second.GetVersionInfo() == first.GetVersionInfo() {
		t.Fatalf("the push after the change has the old version: %v", second)
	}
	took := time.Since(returned)
	t.Logf("API change to Envoy: %v", took)
	if took > time.Second {
		t.Errorf("the change took %v to reach Envoy; the bound is 1s", took)
	}

	// Envoy rejects it: the site says so.
	send(&discovery.DiscoveryRequest{VersionInfo: first.GetVersionInfo(), ResponseNonce: second.GetNonce(),
		ErrorDetail: &statuspb.Status{Code: 3, Message: "Error adding/updating listener(s) https: filter chain site/app.example.com: bad"}})
	eventually(t, 5*time.Second, "NACK on the site", func() bool {
		var site struct {
			Status struct {
				LastNack     string `json:"last_nack"`
				LastNackNode string `json:"last_nack_node"`
			} `json:"status"`
		}
		out := in.cli(t, "site", "show", "app.example.com", "-o", "json")
		return json.Unmarshal([]byte(out), &site) == nil && strings.Contains(site.Status.LastNack, "bad") && site.Status.LastNackNode == "edge-1"
	})
}
