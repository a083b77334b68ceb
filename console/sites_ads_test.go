package console_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// nodeConn is a gRPC connection to r's xDS port as a node of fleet eu
// with a certificate issued through the API.
func nodeConn(t *testing.T, r *running, node string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(r.srv.XDSAddr(), grpc.WithTransportCredentials(nodeCreds(t, r, node)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// nodeCreds are the TLS credentials of an Envoy node of fleet eu, with a
// certificate issued through the API for a key made here.
func nodeCreds(t *testing.T, r *running, node string) credentials.TransportCredentials {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"node_id": node, "fleet": "eu",
		"csr_pem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))})
	var out struct {
		CertificatePEM string `json:"certificate_pem"`
	}
	apiCall(t, r, r.admin, "POST", "/v1/nodes", "application/json", body, &out)
	block, _ := pem.Decode([]byte(out.CertificatePEM))
	if block == nil {
		t.Fatal("no node certificate")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(r.data, "ca.pem"))))
	return credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost",
		Certificates: []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: key}}})
}

// nackSite plays an Envoy that takes the listeners and rejects them,
// naming host's filter chain. xDS follows the store a moment behind the
// API, so a node just issued is retried for a while.
func nackSite(t *testing.T, r *running, host string) {
	t.Helper()
	conn := nodeConn(t, r, "edge-1")
	node := &core.Node{Id: "edge-1", Cluster: "eu"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := nackOnce(conn, node, host)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ADS: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func nackOnce(conn *grpc.ClientConn, node *core.Node, host string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType}); err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType, ResponseNonce: first.GetNonce(),
		ErrorDetail: &statuspb.Status{Code: 3, Message: "Error adding/updating listener(s) https: filter chain site/" + host + ": bad"}}); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	// Wait for the server to end the stream: it has then read the NACK
	// (cancelling at once could drop it before it is handled).
	for {
		if _, err := stream.Recv(); err != nil {
			return nil
		}
	}
}

// TestBrowserSiteNack: an Envoy (an ADS client) rejects the site's
// configuration; the sites list marks the site and its page shows the
// rejection with the node and the time.
func TestBrowserSiteNack(t *testing.T) {
	r, _ := siteSetup(t)
	nackSite(t, r, "app.example.com")
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/sites"), chromedp.WaitVisible(chromedp.ID("site-list"))); err != nil {
			t.Fatal(err)
		}
		row := text(t, ctx, "#site-list tbody tr")
		if strings.Contains(row, "rejected") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("site row %q does not mark the rejection", row)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#site-list a`)), chromedp.WaitVisible(chromedp.ID("site-status"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#site-status"); !strings.Contains(got, "bad") || !strings.Contains(got, "node edge-1") {
		t.Errorf("status %q", got)
	}
}
