package xds

import (
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// assembly is a translation's resources being put together, each list in
// name order.
type assembly struct {
	listeners []hashed[*listenerv3.Listener]
	routes    []hashed[*routev3.RouteConfiguration]
	clusters  []hashed[*clusterv3.Cluster]
	clientCAs []hashed[*tlsv3.Secret] // "client-ca/..." sort before "server/..."
	servers   []hashed[*tlsv3.Secret]
	chains    []*listenerv3.FilterChain
	vhosts    []*routev3.VirtualHost
	invalid   [kinds]error
}

// assemble makes a translation of the sites' entries (sorted by hostname)
// and the shared resources: the "https" listener holds every translated
// site's chain, the "http" route configuration its virtual host. Each
// list is made in name order ("http" < "https/...", a prefix keeps
// hostnames' order), so nothing is sorted. There is no shared cluster:
// the ext_authz cluster is a static cluster of Envoy's bootstrap (it
// carries the node's credentials, which never travel over xDS).
func (t *Translator) assemble(entries []*siteEntry) (*Resources, error) {
	r := &Resources{SiteErrors: map[string]error{}}
	a := t.collect(entries, r.SiteErrors)
	// The two resources holding every site are hashed side by side.
	var (
		https              hashed[*listenerv3.Listener]
		route              hashed[*routev3.RouteConfiguration]
		httpsErr, routeErr error
	)
	parallel(2, t.workers, func(i int) {
		switch {
		// Envoy refuses a listener without filter chains: with no site
		// there is no HTTPS listener at all.
		case i == 0 && len(a.chains) > 0:
			https, httpsErr = t.httpsListener(a.chains)
		case i == 1:
			route, routeErr = t.httpRouteConfig(a.vhosts)
		}
	})
	if httpsErr != nil {
		return nil, httpsErr
	}
	if routeErr != nil {
		return nil, routeErr
	}
	a.listeners = append(a.listeners, t.shared.http)
	if https.msg != nil {
		a.listeners = append(a.listeners, https)
	}
	a.routes[0] = route
	for _, err := range a.invalid {
		if err != nil {
			return nil, err
		}
	}
	secrets := append(a.clientCAs, a.servers...)
	meta := &resourceMeta{}
	parallel(numTypes, t.workers, func(i int) {
		switch i {
		case typeListener:
			meta.types[i] = newTypeMeta(t.types[i], a.listeners)
		case typeRoute:
			meta.types[i] = newTypeMeta(t.types[i], a.routes)
		case typeCluster:
			meta.types[i] = newTypeMeta(t.types[i], a.clusters)
		case typeSecret:
			meta.types[i] = newTypeMeta(t.types[i], secrets)
		}
	})
	t.types = meta.types
	r.Listeners, r.Routes, r.Clusters, r.Secrets = msgs(a.listeners), msgs(a.routes), msgs(a.clusters), msgs(secrets)
	r.meta = meta
	return r, nil
}

// collect gathers the pieces of the translated sites and the errors of
// the others. The shared route configuration comes first in its list:
// its place is kept.
func (t *Translator) collect(entries []*siteEntry, errs map[string]error) *assembly {
	n := len(entries)
	a := &assembly{
		listeners: make([]hashed[*listenerv3.Listener], 0, 2),
		routes:    make([]hashed[*routev3.RouteConfiguration], 1, n+1),
		clusters:  make([]hashed[*clusterv3.Cluster], 0, n),
		clientCAs: make([]hashed[*tlsv3.Secret], 0, 2*n),
		servers:   make([]hashed[*tlsv3.Secret], 0, n),
		chains:    make([]*listenerv3.FilterChain, 0, n),
		vhosts:    make([]*routev3.VirtualHost, 0, n),
	}
	for _, e := range entries {
		if e.err != nil {
			errs[e.site.GetHostname()] = e.err
			continue
		}
		b := e.out
		a.chains = append(a.chains, b.chain)
		a.vhosts = append(a.vhosts, b.vhost)
		a.routes = append(a.routes, b.route)
		a.clusters = append(a.clusters, b.cluster)
		a.servers = append(a.servers, b.server)
		if b.clientCA.msg != nil {
			a.clientCAs = append(a.clientCAs, b.clientCA)
		}
		for k, err := range b.invalid {
			if a.invalid[k] == nil {
				a.invalid[k] = err
			}
		}
	}
	return a
}

func msgs[M namedResource](hs []hashed[M]) []M {
	out := make([]M, len(hs))
	for i, h := range hs {
		out[i] = h.msg
	}
	return out
}

// httpsListener returns the "https" listener holding chains: the previous
// one when it holds the very same chains.
func (t *Translator) httpsListener(chains []*listenerv3.FilterChain) (hashed[*listenerv3.Listener], error) {
	if t.https != nil && slices.Equal(t.https.chains, chains) {
		return t.https.hashed, nil
	}
	// The chains were validated when built: the listener is validated
	// without them.
	l, err := httpsListener(t.opts.HTTPSAddr, nil)
	if err != nil {
		return hashed[*listenerv3.Listener]{}, err
	}
	if err := validate(l); err != nil {
		return hashed[*listenerv3.Listener]{}, err
	}
	l.FilterChains = chains
	h := hashed[*listenerv3.Listener]{msg: l}
	if h.hash, err = hashOf(l); err != nil {
		return h, err
	}
	t.https = &assembledListener{chains: chains, hashed: h}
	return h, nil
}

// httpRouteConfig returns the "http" route configuration holding vhosts:
// the previous one when it holds the very same virtual hosts.
func (t *Translator) httpRouteConfig(vhosts []*routev3.VirtualHost) (hashed[*routev3.RouteConfiguration], error) {
	if t.route != nil && slices.Equal(t.route.vhosts, vhosts) {
		return t.route.hashed, nil
	}
	// The virtual hosts were validated when built: the configuration is
	// validated without them.
	rc := &routev3.RouteConfiguration{Name: HTTPRoute}
	if err := validate(rc); err != nil {
		return hashed[*routev3.RouteConfiguration]{}, err
	}
	rc.VirtualHosts = vhosts
	h := hashed[*routev3.RouteConfiguration]{msg: rc}
	var err error
	if h.hash, err = hashOf(rc); err != nil {
		return h, err
	}
	t.route = &assembledRoute{vhosts: vhosts, hashed: h}
	return h, nil
}
