package standin_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/e2e/internal/standin"
	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

// Sites of the harness.
const (
	enforceSite    = "enforce.example.com"    // enforce, CRLs for the whole chain, HTTP redirected
	permissiveSite = "permissive.example.com" // plain HTTP checked
	plainSite      = "plain.example.com"      // disabled, plain HTTP proxied
	wildSite       = "*.wild.example.org"     // enforce, plain HTTP refused
	wildExactSite  = "api.wild.example.org"   // disabled, under the wildcard; HTTP redirected (the default)
	renamedSite    = "renamed.example.com"    // permissive, verify renamed and subject off; plain HTTP checked
	httpsPort      = 8443                     // where HTTP is redirected to
)

var admin = store.Actor{TokenID: "test", Action: "Test"}

// pkiSet holds the harness's certificates: server certificates come from
// serverRoot; client certificates from clientInter (under clientRoot), or
// from otherRoot for an untrusted one.
type pkiSet struct {
	serverRoot, clientRoot, clientInter, otherRoot *testpki.Cert
	good, revoked, untrusted                       *testpki.Cert
}

func newPKI(t *testing.T) *pkiSet {
	p := &pkiSet{serverRoot: testpki.NewRoot(t, "Server Root", testpki.Options{}),
		clientRoot: testpki.NewRoot(t, "Client Root", testpki.Options{}), otherRoot: testpki.NewRoot(t, "Other Root", testpki.Options{})}
	p.clientInter = p.clientRoot.Intermediate(t, "Client Issuing", testpki.Options{})
	p.good = p.clientInter.Leaf(t, "alice", testpki.Options{DNS: []string{"alice.clients.example"}})
	p.revoked = p.clientInter.Leaf(t, "mallory-revoked", testpki.Options{})
	p.untrusted = p.otherRoot.Leaf(t, "eve", testpki.Options{})
	return p
}

// chain is a client certificate with its issuing chain, for tls.
func chain(leaf *testpki.Cert, issuers ...*testpki.Cert) *tls.Certificate {
	c := &tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert}
	for _, i := range issuers {
		c.Certificate = append(c.Certificate, i.Cert.Raw)
	}
	return c
}

// testCert is a client certificate and the issuers it is sent with.
type testCert struct {
	leaf    *testpki.Cert
	issuers []*testpki.Cert
}

// testNodeID is the stand-in's node id, in fleet testFleet.
const (
	testNodeID = "test-node"
	testFleet  = "edge"
)

// channelPKI is mtlsgate's side of the authenticated channels: its
// internal CA, the serving certificate of the xDS and ext_authz servers
// (URI SAN nodeid.ServerURI) and the node's client certificate.
type channelPKI struct {
	ca, serving, node *testpki.Cert
}

func newChannelPKI(t *testing.T) *channelPKI {
	ca := testpki.NewRoot(t, "mtlsgate internal CA", testpki.Options{})
	return &channelPKI{ca: ca, serving: servingCert(t, ca, nodeid.ServerURI), node: nodeCert(t, ca, testNodeID)}
}

// servingCert is a server certificate of ca naming uri (and localhost).
func servingCert(t *testing.T, ca *testpki.Cert, uri string) *testpki.Cert {
	return ca.Leaf(t, "mtlsgate", testpki.Options{URIs: []string{uri}, DNS: []string{"localhost"},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
}

// nodeCert is a node client certificate of ca.
func nodeCert(t *testing.T, ca *testpki.Cert, node string) *testpki.Cert {
	return ca.Leaf(t, node, testpki.Options{URIs: []string{"spiffe://mtlsgate/fleet/" + testFleet + "/node/" + node}})
}

// creds are the node's credentials as mtlsgate would issue them.
func (c *channelPKI) creds(node *testpki.Cert) envoy.Credentials {
	return envoy.Credentials{CA: c.ca.PEM(), Cert: node.PEM(), Key: node.KeyPEM()}
}

// serverOptions make a gRPC server speak TLS with the serving certificate
// and require a client certificate of the internal CA, as mtlsgate's xDS
// and ext_authz listeners do; pings every envoy.KeepaliveInterval are
// allowed.
func (c *channelPKI) serverOptions(opts ...grpc.ServerOption) []grpc.ServerOption {
	return append([]grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(serverTLS(c.serving, c.ca))),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}, opts...)
}

// serverTLS serves cert and requires a client certificate from ca.
func serverTLS(cert, ca *testpki.Cert) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Cert.Raw}, PrivateKey: cert.Key, Leaf: cert.Cert}},
		ClientCAs:    pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}
}

// peers records the node certificates a server verified, per stream or
// call, in order.
type peers struct {
	mu      sync.Mutex
	serials []string
}

func (ps *peers) record(ctx context.Context) {
	serial := "(none)"
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
			serial = ti.State.VerifiedChains[0][0].SerialNumber.String()
		}
	}
	ps.mu.Lock()
	ps.serials = append(ps.serials, serial)
	ps.mu.Unlock()
}

// seen returns the serials recorded so far.
func (ps *peers) seen() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.serials)
}

// interceptors record the peers of every stream and call.
func (ps *peers) interceptors() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ps.record(ss.Context())
			return h(srv, ss)
		}),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ps.record(ctx)
			return h(ctx, req)
		}),
	}
}

// harness runs the whole path: control plane → stand-in → ext_authz →
// origin, with real TLS clients. The control plane is mtlsgate's
// (xds.Server), or with harnessOptions.inject go-control-plane's serving
// snapshots the test builds.
type harness struct {
	t      *testing.T
	pki    *pkiSet
	st     *store.Store
	cp     *mtlsgateCP // nil with inject
	snap   *snapshotCP // nil without inject
	px     *standin.Proxy
	origin *httptest.Server
	// originHits counts the requests the origin received.
	originHits atomic.Int64
	xdsOpts    xds.Options
	caID       string
	authz      *authz.Service // nil with a fake
	// chans are the channels' certificates; bootDir holds the stand-in's
	// bootstrap and credentials, written by envoy.WriteDir.
	chans     *channelPKI
	bootDir   string
	bootOpts  envoy.BootstrapOptions
	authzAddr string
	// xdsPeers and authzPeers are the node certificates the control
	// plane (per stream) and the ext_authz server (per Check) verified.
	xdsPeers, authzPeers *peers
	// want is what the control plane serves now: type → name → resource.
	want map[string]map[string]proto.Message
}

type harnessOptions struct {
	delta bool
	// authz replaces mtlsgate's authz service (which follows the store).
	authz authv3.AuthorizationServer
	// inject runs go-control-plane serving snapshots the test builds
	// (harness.inject) instead of mtlsgate's control plane.
	inject bool
	// upstreamCAFile sets xds.Options.UpstreamCAFile.
	upstreamCAFile string
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	h := &harness{t: t, pki: newPKI(t), chans: newChannelPKI(t), xdsPeers: &peers{}, authzPeers: &peers{}}
	h.origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.originHits.Add(1)
		echo(w, r)
	}))
	t.Cleanup(h.origin.Close)
	h.st = nodetest.Store(t)
	h.populate()
	// The node's certificate is recorded, as issuing it through the API
	// does: the control plane serves no certificate it has no record of.
	nodetest.Record(t, h.st, h.chans.node)
	svc := o.authz
	if svc == nil {
		real := authz.New(authz.Options{})
		real.Load(model.Compile(h.st.Current(), nil))
		ctx, cancel := context.WithCancel(context.Background())
		followed := make(chan struct{})
		go func() { defer close(followed); model.Follow(ctx, h.st, nil, real.Load) }()
		t.Cleanup(func() { cancel(); <-followed })
		svc, h.authz = real, real
	}
	h.xdsOpts = xds.DefaultOptions()
	h.xdsOpts.HTTPSPort = httpsPort
	// The stand-in presents its node certificate: the control plane
	// checks its names as mtlsgate serve does.
	h.xdsOpts.RequireNodeIdentity = true
	h.authzAddr = serveAuthz(t, svc, h.chans.serverOptions(h.authzPeers.interceptors()...)...)
	if o.upstreamCAFile != "" {
		h.xdsOpts.UpstreamCAFile = o.upstreamCAFile
	}
	serverOpts := h.chans.serverOptions(h.xdsPeers.interceptors()...)
	var cpAddr string
	if o.inject {
		h.snap = startSnapshotCP(t, serverOpts...)
		h.inject(t, "1", nil)
		cpAddr = h.snap.addr
	} else {
		h.cp = startMtlsgateCP(t, h.xdsOpts, serverOpts...)
		h.publish(t)
		cpAddr = h.cp.addr
	}
	h.bootDir = filepath.Join(t.TempDir(), "envoy")
	h.bootOpts = envoy.BootstrapOptions{NodeID: testNodeID, Cluster: testFleet, XDSAddr: cpAddr, AuthzAddr: h.authzAddr, Delta: o.delta}
	if err := envoy.WriteDir(h.bootDir, h.bootOpts, h.chans.creds(h.chans.node), time.Now()); err != nil {
		t.Fatal(err)
	}
	h.px = startProxy(t, filepath.Join(h.bootDir, envoy.BootstrapFile))
	h.waitSynced(t)
	return h
}

// populate creates the client CA (root and intermediate, each with a
// CRL; the intermediate's revokes p.revoked) and the sites.
func (h *harness) populate() {
	ctx, p := context.Background(), h.pki
	ca, err := h.st.CreateCA(ctx, admin, "clients", testpki.Bundle(p.clientRoot, p.clientInter), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	now := time.Now()
	for i, issuer := range []*testpki.Cert{p.clientRoot, p.clientInter} {
		var revoked []*big.Int
		if issuer == p.clientInter {
			revoked = append(revoked, p.revoked.Cert.SerialNumber)
		}
		der := issuer.CRL(h.t, int64(i+1), now.Add(-time.Hour), now.Add(24*time.Hour), revoked...)
		if _, err := h.st.CreateCRL(ctx, admin, der); err != nil {
			h.t.Fatal(err)
		}
	}
	chainCRL := &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_CHAIN}
	h.caID = ca.GetId()
	h.addSite(h.t, enforceSite, &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE, HttpRedirect: proto.Bool(true), Revocation: chainCRL}, h.caID)
	off := proto.Bool(false)
	h.addSite(h.t, permissiveSite, &pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE, HttpRedirect: off}, h.caID)
	h.addSite(h.t, plainSite, &pb.ClientCertSettings{Mode: pb.Mode_MODE_DISABLED, HttpRedirect: off})
	h.addSite(h.t, wildSite, &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE, HttpRedirect: off}, h.caID)
	h.addSite(h.t, renamedSite, &pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE, HttpRedirect: off,
		Headers: map[string]string{"verify": "x-tls-verify", "subject": ""}}, h.caID)
	h.addSite(h.t, wildExactSite, &pb.ClientCertSettings{Mode: pb.Mode_MODE_DISABLED})
}

func (h *harness) addSite(t *testing.T, host string, set *pb.ClientCertSettings, caIDs ...string) {
	t.Helper()
	srv := h.pki.serverRoot.Server(t, host)
	_, err := h.st.CreateSite(context.Background(), admin, &pb.Site{
		Hostname: host, OriginUrl: h.origin.URL, CaIds: caIDs, Settings: set,
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM()),
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// translate is mtlsgate's translation of st, by type and name.
func (h *harness) translate(t *testing.T, st *store.State) map[string]map[string]proto.Message {
	t.Helper()
	r, err := xds.Translate(st, h.xdsOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.SiteErrors) > 0 {
		t.Fatalf("sites left out: %v", r.SiteErrors)
	}
	res := map[string]map[string]proto.Message{
		standin.ListenerType: {}, standin.RouteType: {}, standin.ClusterType: {}, standin.SecretType: {},
	}
	for _, m := range r.Listeners {
		res[standin.ListenerType][m.GetName()] = m
	}
	for _, m := range r.Routes {
		res[standin.RouteType][m.GetName()] = m
	}
	for _, m := range r.Clusters {
		res[standin.ClusterType][m.GetName()] = m
	}
	for _, m := range r.Secrets {
		res[standin.SecretType][m.GetName()] = m
	}
	return res
}

// current is the store's current state, once the authz service has
// loaded it.
func (h *harness) current(t *testing.T) *store.State {
	t.Helper()
	st := h.st.Current()
	for deadline := time.Now().Add(5 * time.Second); h.authz != nil && h.authz.Revision() < st.Rev; {
		if time.Now().After(deadline) {
			t.Fatalf("authz did not load revision %d", st.Rev)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return st
}

// publish gives the store's current state to mtlsgate's control plane,
// which translates and serves it.
func (h *harness) publish(t *testing.T) {
	t.Helper()
	if h.cp == nil {
		t.Fatal("publish needs mtlsgate's control plane (the harness injects)")
	}
	st := h.current(t)
	h.want = h.translate(t, st)
	h.cp.srv.Update(model.Compile(st, nil))
}

// inject serves mtlsgate's translation of the store's current state,
// changed by mutate, as snapshot version from go-control-plane.
func (h *harness) inject(t *testing.T, version string, mutate func(map[string]map[string]proto.Message)) {
	t.Helper()
	if h.snap == nil {
		t.Fatal("inject needs harnessOptions.inject")
	}
	res := h.translate(t, h.current(t))
	if mutate != nil {
		mutate(res)
	}
	h.want = res
	h.snap.set(t, version, res)
}

// waitSynced waits until the stand-in holds exactly what the control
// plane serves and every listener serves it. (Versions differ by
// protocol: in delta, an unchanged type gets no response.)
func (h *harness) waitSynced(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := h.px.WaitFor(ctx, func(s *standin.State) bool {
		for typ, byName := range h.want {
			if !s.Holds(typ, slices.Collect(maps.Values(byName))...) {
				return false
			}
		}
		return s.Warm()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// serveAuthz serves svc on loopback with opts and returns its address.
func serveAuthz(t *testing.T, svc authv3.AuthorizationServer, opts ...grpc.ServerOption) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(g, svc)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return ln.Addr().String()
}

// startProxy starts the stand-in from a bootstrap file.
func startProxy(t *testing.T, bootstrap string) *standin.Proxy {
	px, err := standin.Start(context.Background(), standin.Options{
		Bootstrap:     bootstrap,
		ListenerAddrs: map[string]string{xds.HTTPSListener: "127.0.0.1:0", xds.HTTPListener: "127.0.0.1:0"},
		Logf:          safeLogf(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := px.Close(); err != nil {
			t.Error(err)
		}
	})
	return px
}

// safeLogf logs to t until the test ends (server goroutines may outlive
// it briefly).
func safeLogf(t *testing.T) func(string, ...any) {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() { mu.Lock(); done = true; mu.Unlock() })
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf(format, args...)
		}
	}
}

// echoed is what the origin saw.
type echoed struct {
	Host    string
	URI     string
	Headers http.Header
}

func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(echoed{Host: r.Host, URI: r.RequestURI, Headers: r.Header})
}

// call is one request through the stand-in.
type call struct {
	url     string // https://host/path (or http://)
	sni     string // defaults to the URL's host
	cert    *tls.Certificate
	h2      bool
	headers map[string]string
	// insecure skips the client's server certificate check (for names
	// a wildcard certificate does not cover).
	insecure bool
}

// do sends c through the stand-in's listener for the URL's scheme.
func (h *harness) do(t *testing.T, c call) (*http.Response, *echoed, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	if c.sni == "" {
		c.sni = req.URL.Hostname()
	}
	resp, err := h.client(c).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	var e echoed
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &e) != nil {
		return resp, nil, nil
	}
	return resp, &e, nil
}

func (h *harness) client(c call) *http.Client {
	listener := xds.HTTPSListener
	if strings.HasPrefix(c.url, "http:") {
		listener = xds.HTTPListener
	}
	addr := h.px.Addr(listener)
	roots := x509.NewCertPool()
	roots.AddCert(h.pki.serverRoot.Cert)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: &tls.Config{ServerName: c.sni, RootCAs: roots, InsecureSkipVerify: c.insecure,
			// Always present the certificate, even one the server's CA
			// list does not name (crypto/tls would otherwise send none).
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if c.cert == nil {
					return &tls.Certificate{}, nil
				}
				return c.cert, nil
			}},
		ForceAttemptHTTP2: c.h2,
		DisableKeepAlives: true,
	}
	if !c.h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
