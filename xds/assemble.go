package xds

import (
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/mtlsgate/mtlsgate/internal/par"
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
}

// assemble makes a translation of the entries the sites are served with
// (sorted by hostname; see Translator.serve) and errs, the errors of the
// sites that failed: per fleet, the resources of its sites (see
// assembleFleet). With no site placed on a fleet, there is one assembly,
// shared by every fleet.
func (t *Translator) assemble(built []*siteEntry, errs map[string]error) (*Resources, error) {
	r := &Resources{SiteErrors: errs}
	named := fleetsNamed(built)
	var err error
	views := make(map[string]*fleetView, len(named)+1)
	everywhere := make([]*builtSite, 0, len(built))
	for _, e := range built {
		if len(e.site.Msg.GetFleets()) == 0 {
			everywhere = append(everywhere, e.out)
		}
	}
	if r.FleetResources, err = t.assembleFleet(t.view(views, ""), everywhere); err != nil {
		return nil, err
	}
	if len(named) > 0 {
		r.Fleets = make(map[string]*FleetResources, len(named))
	}
	for _, fleet := range named {
		var sites []*builtSite
		for _, e := range built {
			if fs := e.site.Msg.GetFleets(); len(fs) == 0 || slices.Contains(fs, fleet) {
				sites = append(sites, e.out)
			}
		}
		fr, err := t.assembleFleet(t.view(views, fleet), sites)
		if err != nil {
			return nil, err
		}
		r.Fleets[fleet] = &fr
	}
	t.views = views
	return r, nil
}

// view returns the fleet's view from the last translation (or a new one),
// and keeps it in next.
func (t *Translator) view(next map[string]*fleetView, fleet string) *fleetView {
	v := t.views[fleet]
	if v == nil {
		v = &fleetView{}
	}
	next[fleet] = v
	return v
}

// fleetsNamed returns the fleets the entries' sites are placed on, sorted.
func fleetsNamed(entries []*siteEntry) []string {
	var named []string
	for _, e := range entries {
		named = append(named, e.site.Msg.GetFleets()...)
	}
	slices.Sort(named)
	return slices.Compact(named)
}

// assembleFleet makes the resources of one fleet from its sites' pieces
// (sorted by hostname) and the shared resources: the "https" listener
// holds every site's chain, the "http" route configuration its virtual
// host. Each list is made in name order ("http" < "https/...", a prefix
// keeps hostnames' order), so nothing is sorted. There is no shared
// cluster: the ext_authz cluster is a static cluster of Envoy's bootstrap
// (it carries the node's credentials, which never travel over xDS). What
// v holds from the last translation is reused.
func (t *Translator) assembleFleet(v *fleetView, sites []*builtSite) (FleetResources, error) {
	a := collect(sites)
	// The two resources holding every site are hashed side by side.
	var (
		https              hashed[*listenerv3.Listener]
		route              hashed[*routev3.RouteConfiguration]
		httpsErr, routeErr error
	)
	par.Do(2, t.workers, func(i int) {
		switch {
		// Envoy refuses a listener without filter chains: with no site
		// there is no HTTPS listener at all.
		case i == 0 && len(a.chains) > 0:
			https, httpsErr = t.httpsListener(v, a.chains)
		case i == 1:
			route, routeErr = httpRouteConfig(v, a.vhosts)
		}
	})
	if httpsErr != nil {
		return FleetResources{}, httpsErr
	}
	if routeErr != nil {
		return FleetResources{}, routeErr
	}
	a.listeners = append(a.listeners, t.shared.http)
	if https.msg != nil {
		a.listeners = append(a.listeners, https)
	}
	a.routes[0] = route
	secrets := append(a.clientCAs, a.servers...)
	meta := &resourceMeta{}
	par.Do(numTypes, t.workers, func(i int) {
		switch i {
		case typeListener:
			meta.types[i] = newTypeMeta(v.types[i], a.listeners)
		case typeRoute:
			meta.types[i] = newTypeMeta(v.types[i], a.routes)
		case typeCluster:
			meta.types[i] = newTypeMeta(v.types[i], a.clusters)
		case typeSecret:
			meta.types[i] = newTypeMeta(v.types[i], secrets)
		}
	})
	v.types = meta.types
	return FleetResources{Listeners: msgs(a.listeners), Routes: msgs(a.routes), Clusters: msgs(a.clusters),
		Secrets: msgs(secrets), meta: meta}, nil
}

// collect gathers the pieces of the sites. The shared route configuration
// comes first in its list: its place is kept.
func collect(sites []*builtSite) *assembly {
	n := len(sites)
	a := &assembly{
		listeners: make([]hashed[*listenerv3.Listener], 0, 2),
		routes:    make([]hashed[*routev3.RouteConfiguration], 1, n+1),
		clusters:  make([]hashed[*clusterv3.Cluster], 0, n),
		clientCAs: make([]hashed[*tlsv3.Secret], 0, 2*n),
		servers:   make([]hashed[*tlsv3.Secret], 0, n),
		chains:    make([]*listenerv3.FilterChain, 0, n),
		vhosts:    make([]*routev3.VirtualHost, 0, n),
	}
	for _, b := range sites {
		a.chains = append(a.chains, b.chain)
		a.vhosts = append(a.vhosts, b.vhost)
		a.routes = append(a.routes, b.route)
		a.clusters = append(a.clusters, b.cluster)
		a.servers = append(a.servers, b.server)
		if b.clientCA.msg != nil {
			a.clientCAs = append(a.clientCAs, b.clientCA)
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

// httpsListener returns the "https" listener holding chains: the fleet's
// previous one when it holds the very same chains.
func (t *Translator) httpsListener(v *fleetView, chains []*listenerv3.FilterChain) (hashed[*listenerv3.Listener], error) {
	if v.https != nil && slices.Equal(v.https.chains, chains) {
		return v.https.hashed, nil
	}
	// The chains were validated when built: the listener is validated
	// without them.
	l, err := httpsListener(t.opts.HTTPSAddr, nil, t.filters.logs.connections)
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
	v.https = &assembledListener{chains: chains, hashed: h}
	return h, nil
}

// httpRouteConfig returns the "http" route configuration holding vhosts:
// the fleet's previous one when it holds the very same virtual hosts.
func httpRouteConfig(v *fleetView, vhosts []*routev3.VirtualHost) (hashed[*routev3.RouteConfiguration], error) {
	if v.route != nil && slices.Equal(v.route.vhosts, vhosts) {
		return v.route.hashed, nil
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
	v.route = &assembledRoute{vhosts: vhosts, hashed: h}
	return h, nil
}
