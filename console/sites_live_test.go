package console_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// envoyLDS plays an Envoy of fleet eu that takes the listeners and
// acknowledges each version; it reports, for each version, whether host's
// filter chain requires a client certificate. xDS follows the store a
// moment behind the API, so a node just issued is retried for a while.
func envoyLDS(t *testing.T, r *running, host string) <-chan bool {
	t.Helper()
	conn := nodeConn(t, r, "edge-1")
	node := &core.Node{Id: "edge-1", Cluster: "eu"}
	out := make(chan bool, 16)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithCancel(context.Background())
		stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
		if err == nil {
			err = stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType})
		}
		var first *discovery.DiscoveryResponse
		if err == nil {
			first, err = stream.Recv()
		}
		if err != nil {
			cancel()
			if time.Now().After(deadline) {
				t.Fatalf("ADS: %v", err)
			}
			continue
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for resp := first; ; {
				select {
				case out <- requiresClientCert(t, resp, host):
				case <-ctx.Done():
					return
				}
				if stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType,
					VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}) != nil {
					return
				}
				var err error
				if resp, err = stream.Recv(); err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() { cancel(); <-done })
		return out
	}
}

// requiresClientCert reads host's filter chain in a listener response.
func requiresClientCert(t *testing.T, resp *discovery.DiscoveryResponse, host string) bool {
	for _, a := range resp.GetResources() {
		var l listenerv3.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			t.Errorf("listener: %v", err)
			return false
		}
		for _, fc := range l.GetFilterChains() {
			if fc.GetName() != "site/"+host {
				continue
			}
			var tc tlsv3.DownstreamTlsContext
			if err := fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(&tc); err != nil {
				t.Errorf("tls context: %v", err)
				return false
			}
			return tc.GetRequireClientCertificate().GetValue()
		}
	}
	return false
}

// nextLDS is the next listener version the Envoy took.
func nextLDS(t *testing.T, lds <-chan bool) bool {
	t.Helper()
	select {
	case v := <-lds:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("the Envoy got no listener update")
	}
	return false
}

// TestBrowserSiteEnforceReachesEnvoy: an Envoy is connected and current;
// the admin assigns a CA and sets enforce in the browser; the Envoy gets
// the site's filter chain requiring a client certificate and acknowledges
// it, and the site page then shows the node current at the store's
// revision.
func TestBrowserSiteEnforceReachesEnvoy(t *testing.T) {
	r, id := siteSetup(t)
	lds := envoyLDS(t, r, "app.example.com")
	if nextLDS(t, lds) {
		t.Fatal("a site in disabled mode requires a client certificate")
	}
	ctx := tab(t)
	signIn(t, ctx, r, r.admin)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.base+"/ui/sites/app.example.com"),
		chromedp.WaitVisible(chromedp.ID("site-envoys")),
		chromedp.SetValue(chromedp.ID("assign-ca"), id),
		chromedp.Click(chromedp.CSS("#assign button")),
		chromedp.WaitVisible(chromedp.ID("site-cas")),
		chromedp.SetValue(chromedp.ID("set-mode"), "MODE_ENFORCE"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("notice")),
	); err != nil {
		t.Fatal(err)
	}
	// Each save is a revision; the last listener version the Envoy takes
	// requires a client certificate.
	for !nextLDS(t, lds) {
	}
	rev := strconv.FormatInt(r.srv.Store().Current().Rev, 10)
	want := "current (revision " + rev + ")"
	var row string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("site-envoys"))); err != nil {
			t.Fatal(err)
		}
		row = text(t, ctx, "#site-envoys tbody tr")
		if strings.Contains(row, want) && strings.Contains(text(t, ctx, "#served-revision"), "revision "+rev) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Envoys row %q, served %q; want %q", row, text(t, ctx, "#served-revision"), want)
		}
	}
	if !strings.Contains(row, "eu") || !strings.Contains(row, "edge-1") || !strings.Contains(row, "sotw") {
		t.Errorf("Envoys row %q", row)
	}
	// A request without a certificate is denied, and the page counts it.
	checkUntilDenied(t, r, "app.example.com")
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("site-decisions"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#site-decisions tbody"); !strings.Contains(got, "deny\tno_certificate\t1") {
		t.Errorf("recent decisions %q, want one deny no_certificate", got)
	}
	if got := text(t, ctx, "#decisions-heading"); got != "Recent decisions (last 15 minutes)" {
		t.Errorf("decisions heading %q", got)
	}
	// The sites list sums it up.
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/sites"), chromedp.WaitVisible(chromedp.ID("site-list"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#site-list tbody tr"); !strings.Contains(got, "eu: 1 of 1 current") {
		t.Errorf("sites list row %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(r.base+"/ui/sites/app.example.com"), chromedp.WaitVisible(chromedp.ID("site-envoys"))); err != nil {
		t.Fatal(err)
	}
}

// checkUntilDenied sends Checks without a client certificate for host
// until ext_authz, which follows the store a moment behind the API,
// denies one.
func checkUntilDenied(t *testing.T, r *running, host string) {
	t.Helper()
	client := authv3.NewAuthorizationClient(authzConn(t, r))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := client.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source:            &authv3.AttributeContext_Peer{},
			TlsSession:        &authv3.AttributeContext_TLSSession{Sni: host},
			ContextExtensions: map[string]string{"site": host},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Host: host, Path: "/", Method: "GET"}},
		}})
		if err == nil && resp.GetDeniedResponse() != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no denial: %v %v", resp, err)
		}
	}
}
