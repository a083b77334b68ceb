package xds_test

import (
	"context"
	"crypto/tls"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/promtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

// nodeWorld is a control plane requiring node identities, over TLS with
// certificates of a test internal CA, fed from a real store holding three
// sites: one on every fleet, one on "eu", one on "us".
type nodeWorld struct {
	pki     *nodetest.PKI
	store   *store.Store
	srv     *xds.Server
	metrics *prometheus.Registry
	addr    string
}

func newNodeWorld(t *testing.T, creds credentials.TransportCredentials, pki *nodetest.PKI) *nodeWorld {
	t.Helper()
	w := &nodeWorld{pki: pki, store: nodetest.Store(t), metrics: prometheus.NewRegistry()}
	nodetest.Site(t, w.store, "all.example.com", pb.Mode_MODE_DISABLED)
	nodetest.Site(t, w.store, "eu.example.com", pb.Mode_MODE_DISABLED, "eu")
	nodetest.Site(t, w.store, "us.example.com", pb.Mode_MODE_DISABLED, "us")
	ctx, cancel := context.WithCancel(context.Background())
	o := xds.DefaultOptions()
	o.RequireNodeIdentity = true
	w.srv = xds.NewServer(ctx, o, nil, xds.NewMetrics(w.metrics))
	w.srv.Update(model.Compile(w.store.Current(), nil))
	g := grpc.NewServer(grpc.Creds(creds))
	w.srv.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(ln) }()
	t.Cleanup(func() { g.Stop(); cancel(); <-done })
	w.addr = ln.Addr().String()
	return w
}

// node issues and records a node certificate.
func (w *nodeWorld) node(t *testing.T, fleet, id string) *testpki.Cert {
	t.Helper()
	c := w.pki.Node(t, fleet, id)
	nodetest.Record(t, w.store, c)
	w.srv.Update(model.Compile(w.store.Current(), nil))
	return c
}

func (w *nodeWorld) revoke(t *testing.T, c *testpki.Cert) {
	t.Helper()
	nodetest.Revoke(t, w.store, c)
	w.srv.Update(model.Compile(w.store.Current(), nil))
}

func dial(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// adsStream is one ADS stream, state-of-the-world or delta, asking for
// every resource of a type.
type adsStream struct {
	in   *inbox[adsResponse]
	send func(typeURL string) error
	// ack acknowledges a response, so that the next change is pushed.
	ack func(typeURL string, r *adsResponse) error
}

// adsResponse is what a test reads of a response: the names of its
// resources (of a listener, its filter chains).
type adsResponse struct {
	names          []string
	version, nonce string
}

// openADS opens a stream; one that cannot be opened ends at once with
// the error.
func openADS(t *testing.T, ctx context.Context, conn *grpc.ClientConn, delta bool, n *core.Node) *adsStream {
	t.Helper()
	c := discovery.NewAggregatedDiscoveryServiceClient(conn)
	if delta {
		st, err := c.DeltaAggregatedResources(ctx)
		if err != nil {
			return failed(err)
		}
		return &adsStream{
			in: listen(func() (adsResponse, error) {
				r, err := st.Recv()
				out := adsResponse{nonce: r.GetNonce()}
				for _, res := range r.GetResources() {
					out.names = append(out.names, res.GetName())
				}
				return out, err
			}),
			send: func(typeURL string) error {
				return st.Send(&discovery.DeltaDiscoveryRequest{Node: n, TypeUrl: typeURL})
			},
			ack: func(typeURL string, r *adsResponse) error {
				return st.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: r.nonce})
			},
		}
	}
	st, err := c.StreamAggregatedResources(ctx)
	if err != nil {
		return failed(err)
	}
	return &adsStream{
		in: listen(func() (adsResponse, error) {
			r, err := st.Recv()
			if err != nil {
				return adsResponse{}, err
			}
			out := adsResponse{version: r.GetVersionInfo(), nonce: r.GetNonce()}
			for _, a := range r.GetResources() {
				m, err := a.UnmarshalNew()
				if err != nil {
					return out, err
				}
				if l, ok := m.(*listenerv3.Listener); ok {
					for _, c := range l.GetFilterChains() {
						out.names = append(out.names, c.GetName())
					}
					continue
				}
				out.names = append(out.names, m.(interface{ GetName() string }).GetName())
			}
			return out, nil
		}),
		send: func(typeURL string) error {
			return st.Send(&discovery.DiscoveryRequest{Node: n, TypeUrl: typeURL})
		},
		ack: func(typeURL string, r *adsResponse) error {
			return st.Send(&discovery.DiscoveryRequest{Node: n, TypeUrl: typeURL, VersionInfo: r.version, ResponseNonce: r.nonce})
		},
	}
}

// failed is a stream that could not be opened.
func failed(err error) *adsStream {
	in := &inbox[adsResponse]{ch: make(chan adsResponse), errc: make(chan error, 1)}
	in.errc <- err
	return &adsStream{in: in, send: func(string) error { return err }, ack: func(string, *adsResponse) error { return err }}
}

// refused waits for the stream's end and checks that it ends with code,
// having received nothing.
func (s *adsStream) refused(t *testing.T, code codes.Code) {
	t.Helper()
	select {
	case r := <-s.in.ch:
		t.Fatalf("a refused node received %v", r)
	case err := <-s.in.errc:
		if status.Code(err) != code {
			t.Fatalf("stream ended with %v, want %v", err, code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream was not refused")
	}
}

func envoyNode(fleet, id string) *core.Node { return &core.Node{Id: id, Cluster: fleet} }

// TestNodeIdentityRefusals: every peer that is not an unrevoked node
// presenting its own certificate gets nothing, and the refusal says why;
// over state-of-the-world and delta.
func TestNodeIdentityRefusals(t *testing.T) {
	pki := nodetest.NewPKI(t)
	strict := newNodeWorld(t, pki.ServerCreds(tls.RequireAndVerifyClientCert), pki)
	// A server that lets peers without a verified certificate reach the
	// handler, or serves plaintext by mistake: the handler itself must
	// refuse them.
	lax := newNodeWorld(t, pki.ServerCreds(tls.RequestClientCert), pki)
	plain := newNodeWorld(t, insecure.NewCredentials(), pki)
	revokedBefore := strict.node(t, "eu", "edge-r")
	strict.revoke(t, revokedBefore)
	eu := strict.node(t, "eu", "edge-1")
	cases := []struct {
		name  string
		w     *nodeWorld
		creds credentials.TransportCredentials
		node  *core.Node
		code  codes.Code
	}{
		{"plaintext client", strict, insecure.NewCredentials(), envoyNode("eu", "edge-1"), codes.Unavailable},
		{"plaintext client, plaintext server", plain, insecure.NewCredentials(), envoyNode("eu", "edge-1"), codes.Unauthenticated},
		{"no client certificate", lax, pki.ClientCreds(nil), envoyNode("eu", "edge-1"), codes.Unauthenticated},
		{"certificate of another CA", strict, pki.ClientCreds(nodetest.NodeFrom(t, pki.Other, "eu", "edge-1")), envoyNode("eu", "edge-1"), codes.Unavailable},
		{"certificate of another CA, handler", lax, pki.ClientCreds(nodetest.NodeFrom(t, pki.Other, "eu", "edge-1")), envoyNode("eu", "edge-1"), codes.Unauthenticated},
		{"certificate without a node name", strict, pki.ClientCreds(pki.CA.Leaf(t, "edge-1", testpki.Options{})), envoyNode("eu", "edge-1"), codes.Unauthenticated},
		{"node of another fleet", strict, pki.ClientCreds(eu), envoyNode("us", "edge-1"), codes.PermissionDenied},
		{"empty node.cluster", strict, pki.ClientCreds(eu), envoyNode("", "edge-1"), codes.PermissionDenied},
		{"mismatched node.id", strict, pki.ClientCreds(eu), envoyNode("eu", "edge-2"), codes.PermissionDenied},
		{"no node", strict, pki.ClientCreds(eu), nil, codes.PermissionDenied},
		{"revoked before", strict, pki.ClientCreds(revokedBefore), envoyNode("eu", "edge-r"), codes.PermissionDenied},
	}
	for _, c := range cases {
		for _, delta := range []bool{false, true} {
			t.Run(c.name+map[bool]string{false: "/sotw", true: "/delta"}[delta], func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				s := openADS(t, ctx, dial(t, c.w.addr, c.creds), delta, c.node)
				_ = s.send(resourcev3.SecretType) // may fail: the stream is refused
				s.refused(t, c.code)
			})
		}
	}
	for _, w := range []*nodeWorld{strict, lax, plain} {
		if n := promtest.Sum(t, w.metrics, "mtlsgate_xds_refused_streams_total"); n == 0 {
			t.Error("refusals not counted")
		}
	}
}

// TestNodeGetsExactlyItsFleet: a node receives the listeners' chains,
// clusters and secrets of the sites on its fleet and on every fleet, and
// never another fleet's private key; a fleet no site names gets the
// every-fleet sites at once, when its first node connects.
func TestNodeGetsExactlyItsFleet(t *testing.T) {
	pki := nodetest.NewPKI(t)
	w := newNodeWorld(t, pki.ServerCreds(tls.RequireAndVerifyClientCert), pki)
	for _, c := range []struct {
		fleet string
		want  []string // server secrets
	}{
		{"eu", []string{"server/all.example.com", "server/eu.example.com"}},
		{"us", []string{"server/all.example.com", "server/us.example.com"}},
		{"ap", []string{"server/all.example.com"}},
	} {
		for _, delta := range []bool{false, true} {
			cert := w.node(t, c.fleet, "edge-"+c.fleet)
			ctx, cancel := context.WithCancel(context.Background())
			s := openADS(t, ctx, dial(t, w.addr, pki.ClientCreds(cert)), delta, envoyNode(c.fleet, "edge-"+c.fleet))
			if err := s.send(resourcev3.SecretType); err != nil {
				t.Fatal(err)
			}
			got := s.in.within(t, 5*time.Second)
			if got == nil {
				t.Fatalf("fleet %s: no secrets", c.fleet)
			}
			slices.Sort(got.names)
			if !slices.Equal(got.names, c.want) {
				t.Fatalf("fleet %s (delta %v): secrets %v, want %v", c.fleet, delta, got.names, c.want)
			}
			if !delta {
				if err := s.send(resourcev3.ListenerType); err != nil {
					t.Fatal(err)
				}
				chains := s.in.within(t, 5*time.Second)
				// The "http" listener's one chain, and the sites'.
				want := []string{"http"}
				for _, name := range c.want {
					want = append(want, "site/"+strings.TrimPrefix(name, "server/"))
				}
				if chains == nil {
					t.Fatalf("fleet %s: no listeners", c.fleet)
				}
				slices.Sort(chains.names)
				if !slices.Equal(chains.names, want) {
					t.Fatalf("fleet %s: chains %v, want %v", c.fleet, chains.names, want)
				}
			}
			cancel()
		}
	}
}

// TestRevokedNodeIsCutOff: the open streams of a node whose certificate
// is revoked end at once, with PermissionDenied, and its reconnection is
// refused; another node of the fleet keeps its stream.
func TestRevokedNodeIsCutOff(t *testing.T) {
	pki := nodetest.NewPKI(t)
	w := newNodeWorld(t, pki.ServerCreds(tls.RequireAndVerifyClientCert), pki)
	bad, good := w.node(t, "eu", "edge-bad"), w.node(t, "eu", "edge-good")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var streams []*adsStream
	for _, delta := range []bool{false, true} {
		s := openADS(t, ctx, dial(t, w.addr, pki.ClientCreds(bad)), delta, envoyNode("eu", "edge-bad"))
		if err := s.send(resourcev3.ClusterType); err != nil {
			t.Fatal(err)
		}
		if s.in.within(t, 5*time.Second) == nil {
			t.Fatal("no clusters before the revocation")
		}
		streams = append(streams, s)
	}
	other := openADS(t, ctx, dial(t, w.addr, pki.ClientCreds(good)), false, envoyNode("eu", "edge-good"))
	if err := other.send(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	first := other.in.within(t, 5*time.Second)
	if first == nil {
		t.Fatal("no clusters for the other node")
	}
	if err := other.ack(resourcev3.ClusterType, first); err != nil {
		t.Fatal(err)
	}
	w.revoke(t, bad)
	for _, s := range streams {
		s.refused(t, codes.PermissionDenied)
	}
	again := openADS(t, ctx, dial(t, w.addr, pki.ClientCreds(bad)), false, envoyNode("eu", "edge-bad"))
	_ = again.send(resourcev3.ClusterType)
	again.refused(t, codes.PermissionDenied)
	// The other node still gets changes.
	nodetest.Site(t, w.store, "new.example.com", pb.Mode_MODE_DISABLED, "eu")
	w.srv.Update(model.Compile(w.store.Current(), nil))
	if r := other.in.within(t, 5*time.Second); r == nil || !slices.Contains(r.names, "origin/new.example.com") {
		t.Fatalf("the other node's stream: %v", r)
	}
}

// TestFinding1_NoPrivateKeyWithoutANodeIdentity: issue 9 finding 1, a
// plaintext DeltaAggregatedResources call subscribing to server/<host> as
// any node id got the Secret with its private key. With node identities
// required it is refused and sent nothing, even when the listener itself
// is (mistakenly) plaintext; a node of another fleet asking for the
// secret by name is refused too.
func TestFinding1_NoPrivateKeyWithoutANodeIdentity(t *testing.T) {
	pki := nodetest.NewPKI(t)
	plain := newNodeWorld(t, insecure.NewCredentials(), pki)
	tlsWorld := newNodeWorld(t, pki.ServerCreds(tls.RequireAndVerifyClientCert), pki)
	us := tlsWorld.node(t, "us", "edge-us")
	for name, c := range map[string]struct {
		w     *nodeWorld
		creds credentials.TransportCredentials
		node  *core.Node
		code  codes.Code
	}{
		"plaintext, any node id": {plain, insecure.NewCredentials(), envoyNode("eu", "anything"), codes.Unauthenticated},
		"node of another fleet":  {tlsWorld, pki.ClientCreds(us), envoyNode("eu", "edge-us"), codes.PermissionDenied},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := discovery.NewAggregatedDiscoveryServiceClient(dial(t, c.w.addr, c.creds)).DeltaAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = st.Send(&discovery.DeltaDiscoveryRequest{Node: c.node, TypeUrl: resourcev3.SecretType,
				ResourceNamesSubscribe: []string{"server/eu.example.com"}})
			r, err := st.Recv()
			if r != nil || status.Code(err) != c.code {
				t.Fatalf("got %v, %v; want nothing and %v", r, err, c.code)
			}
		})
	}
}

// TestReviewFinding1_UnknownOrExpiredNodeGetsNothing: a certificate of the
// internal CA that the store never recorded (issued outside the API, or
// whose record was pruned) is refused; a stream whose certificate expires
// while open is cut, as a revoked one is.
func TestReviewFinding1_UnknownOrExpiredNodeGetsNothing(t *testing.T) {
	pki := nodetest.NewPKI(t)
	w := newNodeWorld(t, pki.ServerCreds(tls.RequireAndVerifyClientCert), pki)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	unknown := pki.Node(t, "eu", "edge-unknown") // not recorded
	for _, delta := range []bool{false, true} {
		s := openADS(t, ctx, dial(t, w.addr, pki.ClientCreds(unknown)), delta, envoyNode("eu", "edge-unknown"))
		_ = s.send(resourcev3.SecretType)
		s.refused(t, codes.PermissionDenied)
	}
	short := pki.CA.Leaf(t, "edge-short", testpki.Options{NotAfter: time.Now().Add(3 * time.Second),
		URIs: []string{nodeid.Identity{Fleet: "eu", Node: "edge-short"}.URI()}})
	nodetest.Record(t, w.store, short)
	w.srv.Update(model.Compile(w.store.Current(), nil))
	s := openADS(t, ctx, dial(t, w.addr, pki.ClientCreds(short)), false, envoyNode("eu", "edge-short"))
	if err := s.send(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	if s.in.within(t, 5*time.Second) == nil {
		t.Fatal("no clusters while the certificate is valid")
	}
	// No State change comes: the stream must end on its own at expiry.
	s.refused(t, codes.PermissionDenied)
}
