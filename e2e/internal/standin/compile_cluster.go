package standin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
)

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// clusterCfg is a compiled Cluster: one or more endpoints (host, port and
// dns are the first's), health-checked when the bootstrap says so.
type clusterCfg struct {
	msg            *clusterv3.Cluster
	name           string
	host           string
	port           uint32
	dns            bool
	endpoints      []endpointCfg
	hc             *healthCheckCfg // nil: no active health checking
	connectTimeout time.Duration
	http2          bool
	keepalive      *keepalive.ClientParameters // HTTP/2 connection_keepalive
	tls            *upstreamTLS
	// bufferLimit bounds the transport's read and write buffers
	// (per_connection_buffer_limit_bytes); 0: Go's defaults (4 KiB).
	bufferLimit int
}

// upstreamTLS is a compiled UpstreamTlsContext: from CDS, a static
// validation context; in the bootstrap, the client certificate and the
// validation context from file-based SDS secrets, read at each new
// connection (a renewal changes no existing connection).
type upstreamTLS struct {
	sni   string
	roots *x509.CertPool
	sans  []sanMatcher
	alpn  []string
	cert  *fileSecret // bootstrap only
	vc    *fileSecret // bootstrap only
}

// sanKind is the SAN type a matcher compares.
type sanKind int

const (
	sanDNS sanKind = iota
	sanIP
	sanURI
)

type sanMatcher struct {
	kind  sanKind
	exact string
}

// compileCluster compiles a cluster.
func compileCluster(c *clusterv3.Cluster) (*clusterCfg, error) {
	cc := &clusterCfg{msg: c, name: c.GetName(), connectTimeout: 5 * time.Second}
	if c.GetConnectTimeout() != nil {
		cc.connectTimeout = c.GetConnectTimeout().AsDuration()
	}
	if err := cc.endpoint(c); err != nil {
		return nil, err
	}
	if b := c.GetPerConnectionBufferLimitBytes(); b != nil {
		if b.GetValue() < minBufferLimit {
			return nil, fmt.Errorf("per_connection_buffer_limit_bytes below %d is not implemented", minBufferLimit)
		}
		cc.bufferLimit = int(b.GetValue())
	}
	if err := cc.protocolOptions(c); err != nil {
		return nil, err
	}
	if ts := c.GetTransportSocket(); ts != nil {
		if ts.GetName() != tlsSocketName {
			return nil, fmt.Errorf("transport socket %q is not implemented", ts.GetName())
		}
		up := &tlsv3.UpstreamTlsContext{}
		if err := unpack(ts.GetTypedConfig(), up); err != nil {
			return nil, err
		}
		var err error
		if cc.tls, err = compileUpstreamTLS(up); err != nil {
			return nil, fmt.Errorf("upstream TLS: %w", err)
		}
	}
	return cc, nil
}

// endpointCfg is one endpoint of a cluster.
type endpointCfg struct {
	host string
	port uint32
	dns  bool // host is a name to resolve
}

// endpoint reads the endpoints (one locality) of a STATIC or STRICT_DNS
// cluster.
func (cc *clusterCfg) endpoint(c *clusterv3.Cluster) error {
	eps := c.GetLoadAssignment().GetEndpoints()
	if len(eps) != 1 || len(eps[0].GetLbEndpoints()) == 0 {
		return errors.New("exactly one locality with endpoints is implemented")
	}
	for _, lb := range eps[0].GetLbEndpoints() {
		sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
		ep := endpointCfg{host: sa.GetAddress(), port: sa.GetPortValue()}
		if ep.host == "" || ep.port == 0 {
			return errors.New("an endpoint needs a socket address with a port")
		}
		_, ipErr := netip.ParseAddr(ep.host)
		switch c.GetType() {
		case clusterv3.Cluster_STATIC:
			if ipErr != nil {
				return fmt.Errorf("STATIC endpoint %q is not an IP address", ep.host)
			}
		case clusterv3.Cluster_STRICT_DNS:
			if c.GetDnsLookupFamily() != clusterv3.Cluster_V4_PREFERRED {
				return errors.New("STRICT_DNS needs dns_lookup_family V4_PREFERRED (the only one implemented)")
			}
			ep.dns = ipErr != nil
		default:
			return fmt.Errorf("cluster type %v is not implemented", c.GetType())
		}
		cc.endpoints = append(cc.endpoints, ep)
	}
	cc.host, cc.port, cc.dns = cc.endpoints[0].host, cc.endpoints[0].port, cc.endpoints[0].dns
	return nil
}

// protocolOptions accepts only explicit HTTP/2 (gRPC clusters).
func (cc *clusterCfg) protocolOptions(c *clusterv3.Cluster) error {
	for key, a := range c.GetTypedExtensionProtocolOptions() {
		if key != httpProtocolOptionsKey {
			return fmt.Errorf("protocol options %q are not implemented", key)
		}
		o := &httpv3.HttpProtocolOptions{}
		if err := unpack(a, o); err != nil {
			return err
		}
		h2 := o.GetExplicitHttpConfig().GetHttp2ProtocolOptions()
		if h2 == nil {
			return errors.New("only explicit_http_config.http2_protocol_options is implemented")
		}
		cc.http2 = true
		if ka := h2.GetConnectionKeepalive(); ka != nil {
			if ka.GetInterval() == nil || ka.GetTimeout() == nil {
				return errors.New("connection_keepalive needs interval and timeout (the only form implemented)")
			}
			cc.keepalive = &keepalive.ClientParameters{Time: ka.GetInterval().AsDuration(),
				Timeout: ka.GetTimeout().AsDuration(), PermitWithoutStream: true}
		}
	}
	return nil
}

// compileUpstreamTLS reads trusted_ca and the SAN matchers.
func compileUpstreamTLS(up *tlsv3.UpstreamTlsContext) (*upstreamTLS, error) {
	common := up.GetCommonTlsContext()
	if len(common.GetTlsCertificateSdsSecretConfigs()) > 0 || common.GetValidationContextSdsSecretConfig() != nil ||
		common.GetTlsParams() != nil || len(common.GetAlpnProtocols()) > 0 {
		return nil, errors.New("only validation_context is implemented upstream")
	}
	vc := common.GetValidationContext()
	if vc.GetTrustedCa() == nil || vc.GetCrl() != nil || vc.GetTrustChainVerification() != tlsv3.CertificateValidationContext_VERIFY_TRUST_CHAIN {
		return nil, errors.New("upstream verification needs trusted_ca (CRLs and ACCEPT_UNTRUSTED are not implemented)")
	}
	pemBytes, err := readDataSource(vc.GetTrustedCa())
	if err != nil {
		return nil, fmt.Errorf("trusted_ca: %w", err)
	}
	t := &upstreamTLS{sni: up.GetSni(), roots: x509.NewCertPool()}
	if !t.roots.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("trusted_ca holds no certificate")
	}
	for _, m := range vc.GetMatchTypedSubjectAltNames() {
		if m.GetSanType() == tlsv3.SubjectAltNameMatcher_URI {
			return nil, errors.New("URI SAN matchers are implemented in the bootstrap only")
		}
	}
	if t.sans, err = compileSANs(vc.GetMatchTypedSubjectAltNames()); err != nil {
		return nil, err
	}
	return t, nil
}

// config is the client TLS configuration: the chain verified against
// trusted_ca (no host name check, as Envoy), then the SAN matchers; with
// file secrets, the current client certificate and validation context.
func (t *upstreamTLS) config() *tls.Config {
	cfg := &tls.Config{
		ServerName:         t.sni,
		NextProtos:         t.alpn,
		InsecureSkipVerify: true, // verified below, as Envoy does
		VerifyConnection: func(cs tls.ConnectionState) error {
			roots, sans := t.roots, t.sans
			if t.vc != nil {
				cur := t.vc.cur.Load()
				roots, sans = cur.roots, cur.sans
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("upstream sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			leaf := cs.PeerCertificates[0]
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return fmt.Errorf("upstream certificate: %w", err)
			}
			return matchSAN(sans, leaf)
		},
	}
	if t.cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return t.cert.cur.Load().pair, nil
		}
	}
	return cfg
}

// matchSAN passes when no matcher is configured or any one matches.
func matchSAN(sans []sanMatcher, c *x509.Certificate) error {
	if len(sans) == 0 {
		return nil
	}
	for _, m := range sans {
		var ok bool
		switch m.kind {
		case sanIP:
			ok = slices.ContainsFunc(c.IPAddresses, func(ip net.IP) bool { return ip.String() == m.exact })
		case sanURI:
			ok = slices.ContainsFunc(c.URIs, func(u *url.URL) bool { return u.String() == m.exact })
		default:
			ok = slices.ContainsFunc(c.DNSNames, func(n string) bool { return dnsMatch(n, m.exact) })
		}
		if ok {
			return nil
		}
	}
	return errors.New("upstream certificate matches no subject alternative name matcher")
}

// dnsMatch matches a certificate DNS SAN (possibly "*.x", one label)
// against a name, case-insensitively.
func dnsMatch(san, name string) bool {
	san, name = strings.ToLower(san), strings.ToLower(name)
	if rest, ok := strings.CutPrefix(san, "*."); ok {
		label, suffix, found := strings.Cut(name, ".")
		return found && label != "" && suffix == rest
	}
	return san == name
}

// clusterRT is a cluster in use: its connection pools.
type clusterRT struct {
	cfg       *clusterCfg
	transport *http.Transport
	mu        sync.Mutex
	grpc      *grpc.ClientConn
	// health is, per endpoint, what active health checking found (all
	// healthy without it); next turns the round robin.
	health []atomic.Bool
	next   atomic.Uint64
	// stopHC ends the health checkers, which hc counts.
	stopHC context.CancelFunc
	hc     sync.WaitGroup
}

func newClusterRT(cfg *clusterCfg) *clusterRT {
	rt := &clusterRT{cfg: cfg, health: make([]atomic.Bool, len(cfg.endpoints))}
	for i := range rt.health {
		rt.health[i].Store(true)
	}
	rt.startHealthChecks()
	rt.transport = &http.Transport{
		DialContext:         rt.dial,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     time.Minute,
		ReadBufferSize:      cfg.bufferLimit,
		WriteBufferSize:     cfg.bufferLimit,
	}
	if cfg.tls != nil {
		rt.transport.TLSClientConfig = cfg.tls.config()
	}
	return rt
}

// same reports whether rt already runs cfg.
func (rt *clusterRT) same(cfg *clusterCfg) bool { return proto.Equal(rt.cfg.msg, cfg.msg) }

// dial connects to one of the cluster's endpoints (pick), resolving a
// DNS name and preferring IPv4.
func (rt *clusterRT) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	i := rt.pick()
	if i < 0 {
		return nil, fmt.Errorf("cluster %s: %w", rt.cfg.name, errNoHealthyHost)
	}
	return rt.dialEndpoint(ctx, rt.cfg.endpoints[i])
}

// dialEndpoint connects to one endpoint.
func (rt *clusterRT) dialEndpoint(ctx context.Context, ep endpointCfg) (net.Conn, error) {
	host := ep.host
	if ep.dns {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("resolve %s: no address", host)
		}
		slices.SortStableFunc(ips, func(a, b netip.Addr) int { return boolInt(b.Is4()) - boolInt(a.Is4()) })
		host = ips[0].String()
	}
	d := net.Dialer{Timeout: rt.cfg.connectTimeout}
	return d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(ep.port))))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// dialTransport connects to an endpoint (pick) through the cluster's
// transport socket: TLS (handshake done) when the cluster has one.
func (rt *clusterRT) dialTransport(ctx context.Context) (net.Conn, error) {
	i := rt.pick()
	if i < 0 {
		return nil, fmt.Errorf("cluster %s: %w", rt.cfg.name, errNoHealthyHost)
	}
	return rt.dialTransportTo(ctx, rt.cfg.endpoints[i])
}

// dialTransportTo is dialTransport to one endpoint.
func (rt *clusterRT) dialTransportTo(ctx context.Context, ep endpointCfg) (net.Conn, error) {
	conn, err := rt.dialEndpoint(ctx, ep)
	if err != nil || rt.cfg.tls == nil {
		return conn, err
	}
	tc := tls.Client(conn, rt.cfg.tls.config())
	hctx, cancel := context.WithTimeout(ctx, rt.cfg.connectTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("cluster %s: TLS: %w", rt.cfg.name, err)
	}
	return tc, nil
}

// grpcOptions make a gRPC client speak HTTP/2 over the cluster's
// transport socket (plaintext or TLS done by dialTransport), with the
// cluster's keepalive.
func (rt *clusterRT) grpcOptions() []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return rt.dialTransport(ctx) }),
	}
	if rt.cfg.keepalive != nil {
		opts = append(opts, grpc.WithKeepaliveParams(*rt.cfg.keepalive))
	}
	return opts
}

// grpcConn is the cluster's gRPC client.
func (rt *clusterRT) grpcConn() (*grpc.ClientConn, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.grpc != nil {
		return rt.grpc, nil
	}
	conn, err := grpc.NewClient("passthrough:///"+rt.cfg.name, rt.grpcOptions()...)
	if err != nil {
		return nil, fmt.Errorf("gRPC client for cluster %s: %w", rt.cfg.name, err)
	}
	rt.grpc = conn
	return conn, nil
}

// close releases the pools.
func (rt *clusterRT) close() {
	if rt.stopHC != nil {
		rt.stopHC()
		rt.hc.Wait()
	}
	rt.transport.CloseIdleConnections()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.grpc != nil {
		_ = rt.grpc.Close()
	}
}
