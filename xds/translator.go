package xds

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/originhdr"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// Translator translates States incrementally: its result for a State is
// exactly Translate's, but it keeps what it built for the previous States
// and rebuilds only what their changes touch.
//
// A State's messages are immutable and an unchanged object keeps its
// message (the same pointer) in the next State, so the cache is keyed by
// message identity: a client CA is parsed once per message, a CRL
// PEM-encoded once per message, and a site's resources (with their
// hashes) are rebuilt only when its own message, one of its CAs' or, for
// a site whose validation context may carry CRLs, the CRL of one of its
// trusted certificates is another message. Sites are built once, whatever
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
	cas     map[string]*parsedCA   // by CA id
	crls    map[string]*encodedCRL // by CRL id
	sites   map[string]*siteEntry  // by hostname
	// good holds, by hostname, the last entry that translated whole: a
	// site whose newer entry fails keeps serving it (see serve).
	good map[string]*siteEntry
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
		cas: map[string]*parsedCA{}, crls: map[string]*encodedCRL{}, sites: map[string]*siteEntry{},
		good: map[string]*siteEntry{}, views: map[string]*fleetView{}}
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
	site *pb.Site
	// cas are, for each of the site's CA ids, the message it was built
	// with (nil: the CA did not exist).
	cas []*pb.ClientCA
	// trust and crls are set when the site's validation context may
	// carry CRLs: its trusted certificates' issuer identities, and for
	// each the CRL message used (nil: none).
	trust []pki.IssuerKey
	crls  []*pb.CRL

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
	// invalid is, per kind, a piece Envoy would refuse: the site is not
	// served with it, as the listener or route configuration holding it
	// would be refused whole (see Translator.serve).
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

// Translate builds Envoy's configuration for st, as the package's
// Translate does, reusing what earlier translations built.
func (t *Translator) Translate(st *store.State) (*Resources, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.buildShared(); err != nil {
		return nil, err
	}
	t.syncCAs(st)
	crlsChanged := t.syncCRLs(st)
	env := &buildEnv{opts: t.opts, filters: t.filters, cas: t.cas, byIssuer: t.byIssuer(st), names: newMemo[*siteNames](), trusts: newMemo[*siteTrust]()}
	sites := st.Sites()
	entries := make([]*siteEntry, len(sites))
	var stale []int
	for i, s := range sites {
		if e := t.sites[s.GetHostname()]; e != nil && e.current(st, s, env.byIssuer, crlsChanged) {
			entries[i] = e
		} else {
			stale = append(stale, i)
		}
	}
	olds := make([]*siteEntry, len(stale))
	for k, i := range stale {
		olds[k] = t.sites[sites[i].GetHostname()]
	}
	parallel(len(stale), t.workers, func(k int) {
		entries[stale[k]] = env.entry(sites[stale[k]], olds[k])
	})
	for _, i := range stale {
		t.sites[sites[i].GetHostname()] = entries[i]
	}
	if len(t.sites) > len(sites) {
		for host := range t.sites {
			if st.Site(host) == nil {
				delete(t.sites, host)
				delete(t.good, host)
			}
		}
	}
	errs := map[string]error{}
	return t.assemble(t.serve(entries, errs), errs)
}

// serve picks what each site is served with, in the entries' order: its
// entry when it translated whole; else, reported in errs, the last entry
// that did, with Options.KeepLastGood (the site never runs weaker than the
// operator asked); else nothing: Envoy then has no filter chain and no
// virtual host for the site, so its requests fail closed. Either way one
// bad site never holds up the others.
func (t *Translator) serve(entries []*siteEntry, errs map[string]error) []*siteEntry {
	out := make([]*siteEntry, 0, len(entries))
	for _, e := range entries {
		host := e.site.GetHostname()
		err := e.failure()
		switch {
		case err == nil:
			t.good[host] = e
			out = append(out, e)
		case t.opts.KeepLastGood && t.good[host] != nil:
			errs[host] = &SiteError{Host: host, Err: err, LastGood: true}
			out = append(out, t.good[host])
		default:
			errs[host] = &SiteError{Host: host, Err: err}
		}
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

// syncCAs parses the CAs whose message is new and forgets deleted ones.
func (t *Translator) syncCAs(st *store.State) {
	cas := st.CAs()
	var todo []*pb.ClientCA
	for _, ca := range cas {
		if p := t.cas[ca.GetId()]; p == nil || p.msg != ca {
			todo = append(todo, ca)
		}
	}
	parsed := make([]*parsedCA, len(todo))
	parallel(len(todo), t.workers, func(i int) { parsed[i] = parseCA(todo[i]) })
	for _, p := range parsed {
		t.cas[p.msg.GetId()] = p
	}
	if len(t.cas) > len(cas) {
		for id := range t.cas {
			if st.CA(id) == nil {
				delete(t.cas, id)
			}
		}
	}
}

// syncCRLs keeps an entry per current CRL message and reports whether the
// CRLs differ from the previous translation's.
func (t *Translator) syncCRLs(st *store.State) bool {
	crls := st.CRLs()
	changed := len(crls) != len(t.crls)
	for _, c := range crls {
		if e := t.crls[c.GetId()]; e == nil || e.msg != c {
			t.crls[c.GetId()] = &encodedCRL{msg: c}
			changed = true
		}
	}
	if len(t.crls) > len(crls) {
		for id := range t.crls {
			if st.CRL(id) == nil {
				delete(t.crls, id)
			}
		}
	}
	return changed
}

// byIssuer maps an issuer identity to the CRL Envoy may hold for it: its
// one CRL in force, when that CRL covers every certificate of the issuer.
// An issuer whose revocation is split over several CRLs (an ARL beside an
// end-entity CRL, or partitions by distribution point) maps to none:
// Envoy's validator would fail the handshake of every certificate that
// none of the CRLs it holds covers, so ext_authz alone, which picks the
// covering CRLs per certificate, checks that issuer.
func (t *Translator) byIssuer(st *store.State) map[pki.IssuerKey]*encodedCRL {
	out := map[pki.IssuerKey]*encodedCRL{}
	for _, c := range st.CRLs() {
		if !st.CRLInForce(c) {
			continue
		}
		k := store.CRLIssuerKey(c)
		if l := st.CRLsOfIssuer(k); len(l) == 1 && coversWholeIssuer(c) {
			out[k] = t.crls[c.GetId()]
		}
	}
	return out
}

// coversWholeIssuer reports whether a CRL speaks for every certificate of
// its issuer: no scope limit and no distribution point. A scope this
// version does not know (written by a newer one) is taken as a limit.
func coversWholeIssuer(c *pb.CRL) bool {
	switch c.GetScope() {
	case pb.CRLScope_CRL_SCOPE_ALL, pb.CRLScope_CRL_SCOPE_UNSPECIFIED:
		return len(c.GetDistributionPoints()) == 0
	}
	return false
}

// current reports whether e was built from the inputs s has in st. The
// CRLs are compared only when they changed since the previous
// translation: every entry was current then.
func (e *siteEntry) current(st *store.State, s *pb.Site, byIssuer map[pki.IssuerKey]*encodedCRL, crlsChanged bool) bool {
	if e.site != s {
		return false
	}
	for i, id := range s.GetCaIds() {
		if st.CA(id) != e.cas[i] {
			return false
		}
	}
	if crlsChanged {
		for i, k := range e.trust {
			if crlMsg(byIssuer[k]) != e.crls[i] {
				return false
			}
		}
	}
	return true
}

func crlMsg(c *encodedCRL) *pb.CRL {
	if c == nil {
		return nil
	}
	return c.msg
}

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
