package xds

import (
	"slices"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/originhdr"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Building one site's pieces, and what sites share within a translation.

// buildEnv is what building a site reads; only the names memo is
// written while sites are built.
type buildEnv struct {
	opts    Options
	filters *httpFilters
	model   *model.Model
	names   *namesMemo
}

// entry translates ms. Pieces equal to old's keep old's messages, so that
// the listener and route configuration holding them need no rebuild.
func (env *buildEnv) entry(ms *model.Site, old *siteEntry) *siteEntry {
	e := &siteEntry{site: ms}
	if ms.Err != nil {
		e.err = ms.Err
		return e
	}
	e.out, e.err = env.site(ms, e)
	if e.err == nil && old != nil && old.out != nil {
		e.out.reuse(old.out)
	}
	return e
}

// site builds one site's pieces, validated and hashed; any error leaves
// the site out. It records the CRLs it used in e.
func (env *buildEnv) site(ms *model.Site, e *siteEntry) (*builtSite, error) {
	s := ms.Msg
	names := env.names.get(ms.Names)
	b := &builtSite{}
	var refs chainRefs
	var err error
	if b.chain, refs, err = filterChain(ms, env.filters); err != nil {
		return nil, err
	}
	route := httpsRoute(s.GetHostname())
	b.vhost = httpVirtualHost(s, env.opts.HTTPSPort)
	cluster, err := originCluster(s.GetHostname(), ms.Origin, env.opts.UpstreamCAFile)
	if err != nil {
		return nil, err
	}
	server, err := serverSecret(s)
	if err != nil {
		return nil, err
	}
	var clientCA *tlsv3.Secret
	if asksForCertificates(ms) {
		clientCA = env.clientCASecret(ms, e)
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
// chain mode, the trusted set is closed (model.Trust.Closed); every
// certificate of one identity (renewed, cross-signed, listed twice) is
// covered by its one CRL, which must cover the whole issuer (see
// model.Model.SoleCRL). Otherwise ext_authz alone checks revocation.
func (env *buildEnv) clientCASecret(ms *model.Site, e *siteEntry) *tlsv3.Secret {
	s, trust := ms.Msg, ms.Trust
	var crls []*model.CRL
	if mayGetCRLs(s) {
		e.trust, e.crls = trust.Keys, make([]*model.CRL, len(trust.Keys))
		for i, k := range trust.Keys {
			e.crls[i] = env.model.SoleCRL(k)
		}
		crls = e.crls
		if s.GetSettings().GetRevocation().GetCrl() == pb.CRLCheck_CRL_CHECK_CHAIN && !trust.Closed {
			crls = nil
		}
	}
	return clientCASecret(s, trust, crls)
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

// siteNames are the client-certificate header names of a site's settings:
// the headers its virtual host removes.
type siteNames struct {
	all []string // every name the site owns (originhdr.Names.All)
	// plain is all without the verify header's name, which ext_authz sets
	// on a checked plain HTTP request.
	plain   []string
	invalid error // Envoy would refuse a name
}

// namesMemo makes the siteNames of each originhdr.Names once per
// translation: the model shares one Names between the sites whose header
// settings are the same.
type namesMemo struct {
	mu sync.Mutex
	m  map[*originhdr.Names]*siteNames
}

func newNamesMemo() *namesMemo { return &namesMemo{m: map[*originhdr.Names]*siteNames{}} }

// get returns the siteNames of n. Two callers may both make them the
// first time; they are equal.
func (c *namesMemo) get(n *originhdr.Names) *siteNames {
	c.mu.Lock()
	v := c.m[n]
	c.mu.Unlock()
	if v == nil {
		v = makeNames(n)
		c.mu.Lock()
		c.m[n] = v
		c.mu.Unlock()
	}
	return v
}

func makeNames(n *originhdr.Names) *siteNames {
	all := n.All()
	plain := slices.DeleteFunc(slices.Clone(all), func(name string) bool { return name == n.VerifyName() })
	return &siteNames{all: all, plain: plain,
		invalid: validate(&routev3.VirtualHost{Name: "names", Domains: []string{"names"}, RequestHeadersToRemove: all})}
}
