package standin_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mtlsgate/mtlsgate/e2e/internal/standin"
	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
	"github.com/mtlsgate/mtlsgate/xds"
)

// TestChannelsMTLS: the stand-in reaches the control plane and ext_authz
// only through the bootstrap's static clusters, over TLS, presenting the
// node certificate written by envoy.WriteDir; both servers require it.
func TestChannelsMTLS(t *testing.T) {
	for _, m := range xdsModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{delta: m.delta})
			// The first Check also connects (TCP, TLS, HTTP/2) within the
			// filter's 250 ms: on a loaded machine, allow a retry.
			for deadline := time.Now().Add(10 * time.Second); ; {
				resp, _, err := h.do(t, call{url: "https://" + enforceSite + "/", cert: chain(h.pki.good, h.pki.clientInter)})
				if err == nil && resp.StatusCode == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("enforce with a good certificate: %v %v", resp, err)
				}
			}
			node := h.chans.node.Cert.SerialNumber.String()
			for name, ps := range map[string]*peers{"xDS": h.xdsPeers, "ext_authz": h.authzPeers} {
				seen := ps.seen()
				if len(seen) == 0 || slices.ContainsFunc(seen, func(s string) bool { return s != node }) {
					t.Errorf("%s saw node certificates %v, want only %s", name, seen, node)
				}
			}
		})
	}
}

// waitCertificate waits until the stand-in's node secret holds c.
func waitCertificate(t *testing.T, px *standin.Proxy, c *testpki.Cert) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if cur := px.Certificate(envoy.NodeSecretName); cur != nil && cur.Equal(c.Cert) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in did not load certificate %s", c.Cert.SerialNumber)
		}
	}
}

// TestRenewal: writing new credentials into the bootstrap directory (a
// re-run of mtlsgate envoy bootstrap --out) reloads them without closing
// the ADS stream or failing a request; the next connection presents the
// new certificate.
func TestRenewal(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	if got := h.px.Certificate(envoy.NodeSecretName); got == nil || !got.Equal(h.chans.node.Cert) {
		t.Fatalf("node certificate %v before renewal", got)
	}
	renewed := nodeCert(t, h.chans.ca, testNodeID)
	nodetest.Record(t, h.st, renewed)
	if err := envoy.WriteDir(h.bootDir, h.bootOpts, h.chans.creds(renewed), time.Now()); err != nil {
		t.Fatal(err)
	}
	waitCertificate(t, h.px, renewed)
	if streams := h.xdsPeers.seen(); len(streams) != 1 {
		t.Errorf("renewal opened ADS streams: %v", streams)
	}
	if resp, _, err := h.do(t, call{url: "https://" + enforceSite + "/", cert: chain(h.pki.good, h.pki.clientInter)}); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after renewal: %v %v", resp, err)
	}
	if errs := h.px.Errors(); len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}

	// A new connection (the control plane restarts) uses the new one.
	h.cp.stop()
	h.cp.start(h.cp.addr)
	h.publish(t)
	streams := h.xdsPeers.seen()
	for deadline := time.Now().Add(10 * time.Second); len(streams) < 2; streams = h.xdsPeers.seen() {
		if time.Now().After(deadline) {
			t.Fatal("the stand-in did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.waitSynced(t)
	if last := streams[len(streams)-1]; last != renewed.Cert.SerialNumber.String() {
		t.Errorf("after reconnecting the stand-in presented %s, want the renewed %s", last, renewed.Cert.SerialNumber)
	}
}

// TestRenewalMismatchKeepsOld: a certificate put in place without its key
// (not how WriteDir renews) is refused when the SDS directory changes;
// the last good credentials stay.
func TestRenewalMismatchKeepsOld(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	stranger := nodeCert(t, h.chans.ca, testNodeID)
	replace(t, filepath.Join(h.bootDir, envoy.CertFile), stranger.PEM())
	sds, err := os.ReadFile(filepath.Join(h.bootDir, envoy.NodeSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a new modification time for the moved file
	replace(t, filepath.Join(h.bootDir, envoy.NodeSecretFile), sds)
	for deadline := time.Now().Add(10 * time.Second); len(h.px.Errors()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the mismatched pair was not refused")
		}
	}
	errs := h.px.Errors()
	if len(errs) != 1 || !errors.Is(errs[0], standin.ErrRejected) || !strings.Contains(errs[0].Error(), "certificate and key") {
		t.Errorf("errors %v, want one rejection of the pair", errs)
	}
	if got := h.px.Certificate(envoy.NodeSecretName); !got.Equal(h.chans.node.Cert) {
		t.Errorf("node certificate %s, want the last good one", got.SerialNumber)
	}
}

// replace puts data at path by renaming a new file over it.
func replace(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(filepath.Dir(path)), ".replace.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestRefusesUnverifiedServer: the stand-in finishes no handshake with a
// server whose certificate lacks the server URI or comes from another CA.
func TestRefusesUnverifiedServer(t *testing.T) {
	chans := newChannelPKI(t)
	other := testpki.NewRoot(t, "other CA", testpki.Options{})
	for name, serving := range map[string]*testpki.Cert{
		"another URI": servingCert(t, chans.ca, "spiffe://mtlsgate/fleet/edge/node/impostor"),
		"another CA":  servingCert(t, other, nodeid.ServerURI),
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			results := make(chan error, 16)
			go acceptTLS(ln, serverTLS(serving, chans.ca), results)
			t.Cleanup(func() { ln.Close() })
			dir := filepath.Join(t.TempDir(), "envoy")
			o := envoy.BootstrapOptions{NodeID: testNodeID, Cluster: testFleet, XDSAddr: ln.Addr().String()}
			if err := envoy.WriteDir(dir, o, chans.creds(chans.node), time.Now()); err != nil {
				t.Fatal(err)
			}
			startProxy(t, filepath.Join(dir, envoy.BootstrapFile))
			for range 2 { // the first attempt and a retry
				select {
				case err := <-results:
					if err == nil || !strings.Contains(err.Error(), "remote error: tls: bad certificate") {
						t.Fatalf("handshake: %v, want the stand-in to refuse the server certificate", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the stand-in did not connect")
				}
			}
		})
	}
}

// acceptTLS reports the server side of each TLS handshake on ln.
func acceptTLS(ln net.Listener, cfg *tls.Config, results chan<- error) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = tls.Server(conn, cfg).HandshakeContext(ctx)
		cancel()
		conn.Close()
		select {
		case results <- err:
		default:
		}
	}
}

// TestBootstrapRefused: Start refuses a bootstrap, or an SDS file, using
// anything the stand-in does not implement, as it refuses xDS resources.
func TestBootstrapRefused(t *testing.T) {
	chans := newChannelPKI(t)
	authzCluster := func(b *bootstrapv3.Bootstrap) *clusterv3.Cluster { return b.GetStaticResources().GetClusters()[1] }
	tests := []struct {
		name   string
		mutate func(*bootstrapv3.Bootstrap)
		file   func(dir string) (string, []byte) // replaces a file after WriteDir
		wantIn string
	}{
		{name: "unimplemented field", mutate: func(b *bootstrapv3.Bootstrap) {
			b.StatsFlushInterval = durationpb.New(time.Second)
		}, wantIn: "field envoy.config.bootstrap.v3.Bootstrap.stats_flush_interval is not implemented"},
		{name: "unimplemented value", mutate: func(b *bootstrapv3.Bootstrap) {
			authzCluster(b).LbPolicy = clusterv3.Cluster_RING_HASH
		}, wantIn: "lb_policy is not implemented"},
		{name: "LDS from a file", mutate: func(b *bootstrapv3.Bootstrap) {
			b.DynamicResources.LdsConfig = &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3,
				ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{Path: "/x.yaml"}}}
		}, wantIn: "lds_config and cds_config must be ads"},
		{name: "ADS on an unknown cluster", mutate: func(b *bootstrapv3.Bootstrap) {
			b.DynamicResources.AdsConfig.GrpcServices[0].GetEnvoyGrpc().ClusterName = "elsewhere"
		}, wantIn: `names cluster "elsewhere", which is not a static cluster`},
		{name: "unwatched SDS file", mutate: func(b *bootstrapv3.Bootstrap) {
			authzTLS(t, authzCluster(b), func(s *corev3.ConfigSource) { s.GetPathConfigSource().WatchedDirectory = nil })
		}, wantIn: "without watched_directory is not implemented"},
		{name: "unknown field in YAML", file: func(dir string) (string, []byte) {
			b, _ := os.ReadFile(filepath.Join(dir, envoy.BootstrapFile))
			return envoy.BootstrapFile, append(b, "bogus_field: 1\n"...)
		}, wantIn: "bogus_field"},
		{name: "inline key in the SDS file", file: func(dir string) (string, []byte) {
			b, _ := os.ReadFile(filepath.Join(dir, envoy.NodeSecretFile))
			return envoy.NodeSecretFile, []byte(strings.Replace(string(b), "filename: "+filepath.Join(dir, envoy.KeyFile), "inline_string: x", 1))
		}, wantIn: "field envoy.config.core.v3.DataSource.inline_string is not implemented"},
		{name: "another secret in the SDS file", file: func(dir string) (string, []byte) {
			b, _ := os.ReadFile(filepath.Join(dir, envoy.CASecretFile))
			return envoy.CASecretFile, []byte(strings.Replace(string(b), envoy.CASecretName, "other", 1))
		}, wantIn: `the file holds secret "other"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "envoy")
			o := envoy.BootstrapOptions{NodeID: testNodeID, Cluster: testFleet}
			if err := envoy.WriteDir(dir, o, chans.creds(chans.node), time.Now()); err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				o.Dir = dir
				b, err := envoy.Bootstrap(o)
				if err != nil {
					t.Fatal(err)
				}
				tt.mutate(b)
				y, err := envoy.YAML(b)
				if err != nil {
					t.Fatal(err)
				}
				replace(t, filepath.Join(dir, envoy.BootstrapFile), y)
			}
			if tt.file != nil {
				name, data := tt.file(dir)
				replace(t, filepath.Join(dir, name), data)
			}
			px, err := standin.Start(context.Background(), standin.Options{Bootstrap: filepath.Join(dir, envoy.BootstrapFile),
				ListenerAddrs: map[string]string{xds.HTTPSListener: "127.0.0.1:0"}})
			if err == nil {
				px.Close()
				t.Fatalf("started; want an error containing %q", tt.wantIn)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantIn)
			}
		})
	}
}

// authzTLS edits the config source of the node secret of cluster c.
func authzTLS(t *testing.T, c *clusterv3.Cluster, edit func(*corev3.ConfigSource)) {
	t.Helper()
	up := &tlsv3.UpstreamTlsContext{}
	if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(up); err != nil {
		t.Fatal(err)
	}
	edit(up.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs()[0].GetSdsConfig())
	a, err := anypb.New(up)
	if err != nil {
		t.Fatal(err)
	}
	c.TransportSocket.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: a}
}

// TestCDSCannotReplaceStaticCluster: a CDS cluster named like a static
// cluster of the bootstrap is refused (NACK), as Envoy refuses it.
func TestCDSCannotReplaceStaticCluster(t *testing.T) {
	h := newHarness(t, harnessOptions{inject: true})
	h.inject(t, "static", func(res map[string]map[string]proto.Message) {
		c := proto.Clone(res[standin.ClusterType]["origin/"+enforceSite]).(*clusterv3.Cluster)
		c.Name = envoy.AuthzClusterName
		c.LoadAssignment.ClusterName = c.Name
		res[standin.ClusterType][c.Name] = c
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := h.px.WaitFor(ctx, func(*standin.State) bool { return len(h.px.Errors()) > 0 })
	if err != nil {
		t.Fatal(err)
	}
	if errs := h.px.Errors(); !errors.Is(errs[0], standin.ErrRejected) || !strings.Contains(errs[0].Error(), "static cluster of the bootstrap cannot be replaced") {
		t.Errorf("errors %v, want the CDS cluster refused", errs)
	}
}
