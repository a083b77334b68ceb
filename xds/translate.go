// Package xds turns the store's State into Envoy configuration and serves
// it over ADS. Translate is a pure function: the same State and Options
// give byte-identical, sorted resources.
//
// Per site (domain) Envoy gets:
//
//   - a filter chain on the "https" listener, matched by SNI, whose TLS
//     context takes the server certificate and the client-CA validation
//     context from SDS secrets ("server/<host>", "client-ca/<host>"), so
//     that CA and CRL changes update secrets only and drain nothing;
//   - a route configuration "https/<host>" sending every request through
//     mtlsgate's ext_authz (the route names the site in its context
//     extensions) to the site's origin;
//   - a virtual host on the plain "http" listener that redirects to HTTPS
//     or proxies, with the client-certificate headers stripped;
//   - an origin cluster "origin/<host>".
package xds

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/mtlsgate/mtlsgate/envoy"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/store"
)

// Resource names.
const (
	HTTPSListener = "https"
	HTTPListener  = "http"
	HTTPRoute     = "http"
	// AuthzCluster is the ext_authz filter's cluster: a static cluster of
	// the bootstrap (package envoy), never sent over xDS.
	AuthzCluster = envoy.AuthzClusterName
)

// The per-site resource names: a kind, a slash, the hostname. hostsNamed
// reads them back.
const (
	serverSecretKind = "server/"
	clientCAKind     = "client-ca/"
	httpsRouteKind   = "https/"
	originKind       = "origin/"
	filterChainKind  = "site/"
)

func serverSecretName(host string) string   { return serverSecretKind + host }
func clientCASecretName(host string) string { return clientCAKind + host }
func httpsRouteName(host string) string     { return httpsRouteKind + host }
func originClusterName(host string) string  { return originKind + host }
func filterChainName(host string) string    { return filterChainKind + host }

// siteResourceKinds are the kinds of the per-site resource names.
var siteResourceKinds = []string{serverSecretKind, clientCAKind, httpsRouteKind, originKind, filterChainKind}

// hostsNamed returns the hostnames of the per-site resource names that
// text (an Envoy error message) mentions, in order of first mention. A
// name is a kind at a word boundary followed by the longest run of
// hostname characters; a trailing dot ends a sentence, not the name. So
// "origin/a.com." names a.com, and "server/a.com.au" names a.com.au, never
// a.com. The work is linear in len(text).
func hostsNamed(text string) []string {
	var out []string
	seen := map[string]bool{}
	for i := 0; i < len(text); i++ {
		if i > 0 && isNameByte(text[i-1]) {
			continue // inside a word: "xserver/" is not a kind
		}
		for _, kind := range siteResourceKinds {
			if !strings.HasPrefix(text[i:], kind) {
				continue
			}
			start := i + len(kind)
			end := start
			for end < len(text) && isHostByte(text[end]) {
				end++
			}
			host := strings.TrimRight(text[start:end], ".")
			if host != "" && !seen[host] {
				seen[host] = true
				out = append(out, host)
			}
			i = end - 1
			break
		}
	}
	return out
}

// isHostByte reports whether c may appear in a site's hostname.
func isHostByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '*'
}

// isNameByte reports whether c may appear in a resource name's kind or
// hostname: a kind that follows one is inside another word.
func isNameByte(c byte) bool { return isHostByte(c) || c == '/' || 'A' <= c && c <= 'Z' || c == '_' }

// Options are the deployment facts translation needs besides the State.
type Options struct {
	// HTTPSAddr and HTTPAddr are Envoy's listener addresses.
	HTTPSAddr, HTTPAddr string
	// AuthzTimeout bounds one Check call.
	AuthzTimeout time.Duration
	// HTTPSPort is the port HTTP requests are redirected to (443: none in
	// the Location).
	HTTPSPort uint32
	// UpstreamCAFile is the CA bundle, on the Envoy host, that https
	// origins' certificates are verified against.
	UpstreamCAFile string
	// RequireNodeIdentity makes the Server serve an ADS stream only to a
	// node presenting a verified, unrevoked node certificate whose names
	// match the node's node.id and node.cluster (see Server). Off, any
	// peer is served as the fleet its node.cluster names: the plaintext
	// opt-out. Translation does not read it.
	RequireNodeIdentity bool
}

// DefaultOptions are the documented defaults.
func DefaultOptions() Options {
	return Options{
		HTTPSAddr: "0.0.0.0:10443", HTTPAddr: "0.0.0.0:10080",
		AuthzTimeout: 250 * time.Millisecond, HTTPSPort: 443,
		UpstreamCAFile: "/etc/ssl/certs/ca-certificates.crt",
	}
}

// Resources is one translation: per fleet, what its nodes receive, and
// the sites that had to be left out with why. A site placed on no fleet
// is on every fleet; a site placed on fleets goes only to their nodes.
// The embedded FleetResources are what a fleet no site names receives
// (the sites on every fleet); Fleets holds, for each fleet some site
// names, its own. The messages may be shared with a Translator's cache,
// between fleets and with other translations: they must not be modified.
type Resources struct {
	FleetResources
	// Fleets maps each fleet a site is placed on to its resources.
	Fleets map[string]*FleetResources
	// SiteErrors maps a left-out site to its error.
	SiteErrors map[string]error
}

// For returns what the nodes of fleet receive.
func (r *Resources) For(fleet string) *FleetResources {
	if f := r.Fleets[fleet]; f != nil {
		return f
	}
	return &r.FleetResources
}

// FleetResources are the resources of one fleet, each list sorted by name.
type FleetResources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Secrets   []*tlsv3.Secret

	// meta is, per type, every resource's hash and go-control-plane's
	// view of the resources, made by Translate as it built them (their
	// references checked). Snapshot makes it, and checks the references,
	// for FleetResources that Translate did not make.
	meta *resourceMeta
}

// Translate builds Envoy's configuration for st. A site that cannot be
// translated is left out and reported in SiteErrors; an error is returned
// only when the configuration as a whole cannot be built. It is a pure
// function: a fresh Translator's first translation of st's model.
func Translate(st *store.State, o Options) (*Resources, error) {
	return NewTranslator(o).Translate(model.Compile(st, nil))
}

// splitAddr parses a listener's host:port (Options).
func splitAddr(addr string) (string, uint32, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%w: listener address %q: %v", ErrInvalidOptions, addr, err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%w: listener address %q: bad port", ErrInvalidOptions, addr)
	}
	return h, uint32(n), nil
}
