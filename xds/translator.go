package xds

import (
	"maps"
	"runtime"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/par"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
)

// Translator translates States incrementally: its result for a State is
// exactly Translate's, but it keeps what it built for the previous States
// and rebuilds only what their changes touch.
//
// It translates the model (package model), which has parsed the CAs and
// CRLs and compiled the sites; an unchanged site keeps its *model.Site in
// the next model, so the cache is keyed by that identity: a site's
// resources (with their hashes) are rebuilt only when the model compiled
// the site anew or, for a site whose validation context may carry CRLs,
// the CRL Envoy may hold for one of its trusted certificates changed. Sites are built once, whatever
// fleets they are on. Per fleet, the "https" listener and the "http" route
// configuration, which hold every site of the fleet, are reassembled from
// the sites' pieces, and rebuilt only when a piece changed. Entries of
// deleted objects, and views of fleets no site names, are evicted at once.
//
// Sites are built by a pool of GOMAXPROCS workers; the output does not
// depend on scheduling. A Translator is safe for concurrent use (one
// translation runs at a time).
type Translator struct {
	opts    Options
	workers int

	mu      sync.Mutex
	filters *httpFilters
	shared  *sharedResources
	crls    map[string]*model.CRL // the previous model's CRLs
	sites   map[string]*siteEntry // by hostname
	// views are, per fleet a site names ("" for the sites on every
	// fleet), what the last translation assembled for it.
	views map[string]*fleetView
}

// fleetView is what was last assembled for one fleet: reused by the
// next translation where its pieces are the same.
type fleetView struct {
	https *assembledListener  // the last "https" listener, when there was one
	route *assembledRoute     // the last "http" route configuration
	types [numTypes]*typeMeta // the last assembly's, by type
}

// NewTranslator returns a Translator for o with nothing cached yet.
func NewTranslator(o Options) *Translator {
	return &Translator{opts: o, workers: runtime.GOMAXPROCS(0),
		sites: map[string]*siteEntry{},
		views: map[string]*fleetView{}}
}

// hashed is a resource and its version (see hashOf).
type hashed[M proto.Message] struct {
	msg  M
	hash string
}

// sharedResources are the resources that depend on Options alone.
type sharedResources struct {
	http hashed[*listenerv3.Listener]
}

// assembledListener is an "https" listener and the chains it holds.
type assembledListener struct {
	chains []*listenerv3.FilterChain
	hashed[*listenerv3.Listener]
}

// assembledRoute is an "http" route configuration and its virtual hosts.
type assembledRoute struct {
	vhosts []*routev3.VirtualHost
	hashed[*routev3.RouteConfiguration]
}

// siteEntry is a site's translation and the inputs it was made from.
type siteEntry struct {
	site *model.Site
	// trust and crls are set when the site's validation context may
	// carry CRLs: its trusted certificates' issuer identities, and for
	// each the CRL used (model.SoleCRL; nil: none).
	trust []pki.IssuerKey
	crls  []*model.CRL

	out *builtSite // nil when err
	err error      // why the site is left out
}

// builtSite is a site's translated pieces.
type builtSite struct {
	chain   *listenerv3.FilterChain
	vhost   *routev3.VirtualHost
	route   hashed[*routev3.RouteConfiguration]
	cluster hashed[*clusterv3.Cluster]
	server  hashed[*tlsv3.Secret]
	// clientCA is the validation context, for a site that asks for
	// certificates (msg nil otherwise).
	clientCA hashed[*tlsv3.Secret]
	// invalid is, per kind, a piece Envoy would refuse: the site is left
	// out, as the listener or route configuration holding it would be
	// refused whole (see serve).
	invalid [kinds]error
}

// The kinds of resources, in the order their errors are reported.
const (
	kindListener = iota
	kindRoute
	kindCluster
	kindSecret
	kinds
)

// Translate builds Envoy's configuration for m, as the package's
// Translate does for m's State, reusing what earlier translations built.
func (t *Translator) Translate(m *model.Model) (*Resources, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.buildShared(); err != nil {
		return nil, err
	}
	crlsChanged := !maps.Equal(t.crls, m.CRLs)
	t.crls = m.CRLs
	env := &buildEnv{opts: t.opts, filters: t.filters, model: m, names: newNamesMemo()}
	sites := m.SiteList()
	entries := make([]*siteEntry, len(sites))
	var stale []int
	for i, ms := range sites {
		if e := t.sites[ms.Host]; e != nil && e.current(m, ms, crlsChanged) {
			entries[i] = e
		} else {
			stale = append(stale, i)
		}
	}
	olds := make([]*siteEntry, len(stale))
	for k, i := range stale {
		olds[k] = t.sites[sites[i].Host]
	}
	par.Do(len(stale), t.workers, func(k int) {
		entries[stale[k]] = env.entry(sites[stale[k]], olds[k])
	})
	for _, i := range stale {
		t.sites[sites[i].Host] = entries[i]
	}
	if len(t.sites) > len(sites) {
		for host := range t.sites {
			if m.Site(host) == nil {
				delete(t.sites, host)
			}
		}
	}
	errs := map[string]error{}
	return t.assemble(serve(entries, errs), errs)
}

// current reports whether e was built from the inputs its site has in m.
// The CRLs are compared only when they changed since the previous
// translation: every entry was current then.
func (e *siteEntry) current(m *model.Model, ms *model.Site, crlsChanged bool) bool {
	if e.site != ms {
		return false
	}
	if crlsChanged {
		for i, k := range e.trust {
			if m.SoleCRL(k) != e.crls[i] {
				return false
			}
		}
	}
	return true
}

// serve returns the entries that translated whole, in order, and
// records in errs why each other site failed. A failing site is left out:
// Envoy then has no filter chain and no virtual host of its own for it, so
// its requests fail closed. It never holds up the other sites. (Serving its
// last good configuration instead could be weaker than what the operator
// asks now: a CA they removed, a fleet they took the site off, a mode they
// tightened.)
func serve(entries []*siteEntry, errs map[string]error) []*siteEntry {
	out := make([]*siteEntry, 0, len(entries))
	for _, e := range entries {
		if err := e.failure(); err != nil {
			errs[e.site.Host] = &SiteError{Host: e.site.Host, Err: err}
			continue
		}
		out = append(out, e)
	}
	return out
}

// failure is why e cannot be served: its translation error, or the first
// piece Envoy would refuse.
func (e *siteEntry) failure() error {
	if e.err != nil {
		return e.err
	}
	for _, err := range e.out.invalid {
		if err != nil {
			return err
		}
	}
	return nil
}

// buildShared builds the filters and resources that depend on Options
// alone, once.
func (t *Translator) buildShared() error {
	if t.shared != nil {
		return nil
	}
	filters, err := newHTTPFilters(t.opts.AuthzTimeout)
	if err != nil {
		return err
	}
	http, err := httpListener(t.opts.HTTPAddr, filters)
	if err != nil {
		return err
	}
	// The "http" listener names the "http" route configuration, which
	// every translation has, and no secret.
	refs, err := readRefs(http.GetFilterChains()[0])
	if err != nil {
		return err
	}
	if err := checkReferences([]string{HTTPRoute}, nil, []chainRefs{refs}); err != nil {
		return err
	}
	sh := &sharedResources{}
	if sh.http, err = hashValid(http); err != nil {
		return err
	}
	t.filters, t.shared = filters, sh
	return nil
}
