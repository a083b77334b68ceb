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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// clusterCfg is a compiled Cluster: one endpoint.
type clusterCfg struct {
	msg            *clusterv3.Cluster
	name           string
	host           string
	port           uint32
	dns            bool
	connectTimeout time.Duration
	http2          bool
	tls            *upstreamTLS
}

// upstreamTLS is a compiled UpstreamTlsContext.
type upstreamTLS struct {
	sni   string
	roots *x509.CertPool
	sans  []sanMatcher
}

type sanMatcher struct {
	ip    bool
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

// endpoint reads the single endpoint of a STATIC or STRICT_DNS cluster.
func (cc *clusterCfg) endpoint(c *clusterv3.Cluster) error {
	eps := c.GetLoadAssignment().GetEndpoints()
	if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
		return errors.New("exactly one endpoint is implemented")
	}
	sa := eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	cc.host, cc.port = sa.GetAddress(), sa.GetPortValue()
	if cc.host == "" || cc.port == 0 {
		return errors.New("the endpoint needs a socket address with a port")
	}
	_, ipErr := netip.ParseAddr(cc.host)
	switch c.GetType() {
	case clusterv3.Cluster_STATIC:
		if ipErr != nil {
			return fmt.Errorf("STATIC endpoint %q is not an IP address", cc.host)
		}
	case clusterv3.Cluster_STRICT_DNS:
		if c.GetDnsLookupFamily() != clusterv3.Cluster_V4_PREFERRED {
			return errors.New("STRICT_DNS needs dns_lookup_family V4_PREFERRED (the only one implemented)")
		}
		cc.dns = ipErr != nil
	default:
		return fmt.Errorf("cluster type %v is not implemented", c.GetType())
	}
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
		if o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
			return errors.New("only explicit_http_config.http2_protocol_options is implemented")
		}
		cc.http2 = true
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
		if _, ok := m.GetMatcher().GetMatchPattern().(*matcherv3.StringMatcher_Exact); !ok || m.GetMatcher().GetExact() == "" {
			return nil, errors.New("only exact SAN matchers are implemented")
		}
		t.sans = append(t.sans, sanMatcher{ip: m.GetSanType() == tlsv3.SubjectAltNameMatcher_IP_ADDRESS, exact: m.GetMatcher().GetExact()})
	}
	return t, nil
}

// config is the client TLS configuration: the chain verified against
// trusted_ca (no host name check, as Envoy), then the SAN matchers.
func (t *upstreamTLS) config() *tls.Config {
	return &tls.Config{
		ServerName:         t.sni,
		InsecureSkipVerify: true, // verified below, as Envoy does
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("upstream sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			leaf := cs.PeerCertificates[0]
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return fmt.Errorf("upstream certificate: %w", err)
			}
			return t.matchSAN(leaf)
		},
	}
}

// matchSAN passes when no matcher is configured or any one matches.
func (t *upstreamTLS) matchSAN(c *x509.Certificate) error {
	if len(t.sans) == 0 {
		return nil
	}
	for _, m := range t.sans {
		if m.ip && slices.ContainsFunc(c.IPAddresses, func(ip net.IP) bool { return ip.String() == m.exact }) {
			return nil
		}
		if !m.ip && slices.ContainsFunc(c.DNSNames, func(n string) bool { return dnsMatch(n, m.exact) }) {
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
}

func newClusterRT(cfg *clusterCfg) *clusterRT {
	rt := &clusterRT{cfg: cfg}
	rt.transport = &http.Transport{
		DialContext:         rt.dial,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     time.Minute,
	}
	if cfg.tls != nil {
		rt.transport.TLSClientConfig = cfg.tls.config()
	}
	return rt
}

// same reports whether rt already runs cfg.
func (rt *clusterRT) same(cfg *clusterCfg) bool { return proto.Equal(rt.cfg.msg, cfg.msg) }

// dial connects to the cluster's endpoint, resolving a DNS name and
// preferring IPv4.
func (rt *clusterRT) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	host := rt.cfg.host
	if rt.cfg.dns {
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
	return d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(rt.cfg.port))))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// grpcConn is the cluster's gRPC client (HTTP/2 over plaintext).
func (rt *clusterRT) grpcConn() (*grpc.ClientConn, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.grpc != nil {
		return rt.grpc, nil
	}
	conn, err := grpc.NewClient("passthrough:///"+rt.cfg.name,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return rt.dial(ctx, "", "") }))
	if err != nil {
		return nil, fmt.Errorf("gRPC client for cluster %s: %w", rt.cfg.name, err)
	}
	rt.grpc = conn
	return conn, nil
}

// close releases the pools.
func (rt *clusterRT) close() {
	rt.transport.CloseIdleConnections()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.grpc != nil {
		_ = rt.grpc.Close()
	}
}
