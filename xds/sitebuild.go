package xds

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/originhdr"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Building one site's pieces, and what sites share within a translation.

// buildEnv is what building a site reads; only the memos are written
// while sites are built.
type buildEnv struct {
	opts     Options
	filters  *httpFilters
	cas      map[string]*parsedCA
	byIssuer map[pki.IssuerKey]*encodedCRL
	names    *memo[*siteNames]
	trusts   *memo[*siteTrust]
}

// entry translates s. Pieces equal to old's keep old's messages, so that
// the listener and route configuration holding them need no rebuild.
func (env *buildEnv) entry(s *pb.Site, old *siteEntry) *siteEntry {
	e := &siteEntry{site: s, cas: make([]*pb.ClientCA, len(s.GetCaIds()))}
	for i, id := range s.GetCaIds() {
		if p := env.cas[id]; p != nil {
			e.cas[i] = p.msg
		}
	}
	e.out, e.err = env.site(s, e)
	if e.err == nil && old != nil && old.out != nil {
		e.out.reuse(old.out)
	}
	return e
}

// site builds one site's pieces, validated and hashed; any error leaves
// the site out. It records the CRLs it used in e.
func (env *buildEnv) site(s *pb.Site, e *siteEntry) (*builtSite, error) {
	names, err := env.siteNames(s.GetSettings())
	if err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	origin, err := parseOrigin(s.GetOriginUrl())
	if err != nil {
		return nil, err
	}
	b := &builtSite{}
	var refs chainRefs
	if b.chain, refs, err = filterChain(s, env.filters); err != nil {
		return nil, err
	}
	route := httpsRoute(s.GetHostname())
	b.vhost = httpVirtualHost(s, env.opts.HTTPSPort)
	cluster, err := originCluster(s.GetHostname(), origin, env.opts.UpstreamCAFile)
	if err != nil {
		return nil, err
	}
	server, err := serverSecret(s)
	if err != nil {
		return nil, err
	}
	var clientCA *tlsv3.Secret
	if asksForCertificates(s) {
		if clientCA, err = env.clientCASecret(s, e); err != nil {
			return nil, err
		}
	}
	// The chain and the virtual host are validated here, once, rather
	// than within the listener and route configuration holding them all;
	// the header names, shared by most sites, once per translation.
	b.check(kindListener, validate(b.chain))
	b.check(kindRoute, validate(b.vhost))
	b.check(kindRoute, names.invalid)
	b.vhost.RequestHeadersToRemove = plainRemove(s, names)
	b.route, err = hashValid(route)
	b.check(kindRoute, err)
	b.cluster, err = hashValid(cluster)
	b.check(kindCluster, err)
	b.server, err = hashValid(server)
	b.check(kindSecret, err)
	secretNames := []string{server.GetName()}
	if clientCA != nil {
		b.clientCA, err = hashValid(clientCA)
		b.check(kindSecret, err)
		secretNames = append(secretNames, clientCA.GetName())
	}
	// What go-control-plane's Snapshot.Consistent checks, and more (see
	// checkReferences), site by site: the chain names exactly the site's
	// route configuration and secrets. Hostnames are distinct, and so are
	// the sites' resource names.
	b.check(kindSecret, checkReferences([]string{route.GetName()}, secretNames, []chainRefs{refs}))
	return b, nil
}

// check records the first error of a kind.
func (b *builtSite) check(kind int, err error) {
	if b.invalid[kind] == nil {
		b.invalid[kind] = err
	}
}

// clientCASecret is the validation context of a site that asks for
// certificates. It records in e the CRLs it used.
//
// Once any CRL is given, Envoy requires a CRL for the issuer of each
// certificate it checks: the leaf's issuer (only_verify_leaf_cert_crl), or
// in chain mode every certificate of the chain it builds, the top
// included, which must then be self-signed (the CRL of a top's issuer can
// only be verified with that issuer in the chain). So CRLs go to Envoy
// only when every trusted certificate's issuer identity has one and, in
// chain mode, the trusted set is closed (siteTrust.closed); every
// certificate of one identity (renewed, cross-signed, listed twice) is
// covered by its one CRL, which must cover the whole issuer (see
// byIssuer). Otherwise ext_authz alone checks revocation.
func (env *buildEnv) clientCASecret(s *pb.Site, e *siteEntry) (*tlsv3.Secret, error) {
	trust, err := env.trust(s)
	if err != nil {
		return nil, err
	}
	var crls []*encodedCRL
	if mayGetCRLs(s) {
		e.trust, e.crls = trust.keys, make([]*pb.CRL, len(trust.keys))
		crls = make([]*encodedCRL, len(trust.keys))
		for i, k := range trust.keys {
			crls[i] = env.byIssuer[k]
			e.crls[i] = crlMsg(crls[i])
		}
		if s.GetSettings().GetRevocation().GetCrl() == pb.CRLCheck_CRL_CHECK_CHAIN && !trust.closed {
			crls = nil
		}
	}
	return clientCASecret(s, trust, crls), nil
}

// reuse keeps old's messages for the pieces that did not change.
func (b *builtSite) reuse(old *builtSite) {
	if proto.Equal(b.chain, old.chain) {
		b.chain = old.chain
	}
	if proto.Equal(b.vhost, old.vhost) {
		b.vhost = old.vhost
	}
	reuse(&b.route, old.route)
	reuse(&b.cluster, old.cluster)
	reuse(&b.server, old.server)
	reuse(&b.clientCA, old.clientCA)
}

// reuse keeps old's message when h has the same content.
func reuse[M proto.Message](h *hashed[M], old hashed[M]) {
	if h.hash != "" && h.hash == old.hash {
		*h = old
	}
}

// parallel runs fn(0..n-1) on up to workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// siteNames are the client-certificate header names of a site's settings:
// the headers its virtual host removes.
type siteNames struct {
	all []string // every name the site owns (originhdr.Names.All)
	// plain is all without the verify header's name, which ext_authz sets
	// on a checked plain HTTP request.
	plain   []string
	invalid error // Envoy would refuse a name
}

// memo makes a value once per key, for concurrent callers: what sites
// share within a translation (most sites have the same header names, and
// many the same CAs).
type memo[V any] struct {
	mu sync.Mutex
	m  map[string]*memoEntry[V]
}

type memoEntry[V any] struct {
	once sync.Once
	v    V
	err  error
}

func newMemo[V any]() *memo[V] { return &memo[V]{m: map[string]*memoEntry[V]{}} }

// get returns the value for key, made by mk the first time.
func (c *memo[V]) get(key []byte, mk func() (V, error)) (V, error) {
	c.mu.Lock()
	e := c.m[string(key)]
	if e == nil {
		e = &memoEntry[V]{}
		c.m[string(key)] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.v, e.err = mk() })
	return e.v, e.err
}

// siteNames returns the names of the site's header configuration.
func (env *buildEnv) siteNames(set *pb.ClientCertSettings) (*siteNames, error) {
	var buf [1024]byte
	key, ok := namesKey(buf[:0], set)
	if !ok {
		return makeNames(set) // an unknown field: NewNames says which
	}
	return env.names.get(key, func() (*siteNames, error) { return makeNames(set) })
}

// trust returns the certificates of the site's CAs.
func (env *buildEnv) trust(s *pb.Site) (*siteTrust, error) {
	var buf [1024]byte
	key := buf[:0]
	for _, id := range s.GetCaIds() {
		key = appendField(key, id)
	}
	return env.trusts.get(key, func() (*siteTrust, error) { return trustOf(s.GetCaIds(), env.cas) })
}

func makeNames(set *pb.ClientCertSettings) (*siteNames, error) {
	n, err := originhdr.NewNames(set.GetHeaders(), set.GetCertEncoding())
	if err != nil {
		return nil, err
	}
	all := n.All()
	plain := slices.DeleteFunc(slices.Clone(all), func(name string) bool { return name == n.VerifyName() })
	return &siteNames{all: all, plain: plain,
		invalid: validate(&routev3.VirtualHost{Name: "names", Domains: []string{"names"}, RequestHeadersToRemove: all})}, nil
}

// headerFields are the header fields settings may name, sorted.
var headerFields = slices.Sorted(maps.Keys(store.DefaultHeaders))

// namesKey appends to b what originhdr.NewNames reads of the settings;
// false when the headers name a field outside headerFields.
func namesKey(b []byte, set *pb.ClientCertSettings) ([]byte, bool) {
	headers := set.GetHeaders()
	b = strconv.AppendInt(b, int64(set.GetCertEncoding()), 10)
	known := 0
	for _, k := range headerFields {
		v, ok := headers[k]
		if !ok {
			b = append(b, " -"...) // the default name, unlike "" (off)
			continue
		}
		known++
		b = appendField(b, v)
	}
	return b, known == len(headers)
}

// appendField appends s, length-prefixed.
func appendField(b []byte, s string) []byte {
	b = strconv.AppendInt(append(b, ' '), int64(len(s)), 10)
	return append(append(b, ':'), s...)
}
