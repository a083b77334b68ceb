package standin

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
)

// routeCfg is a compiled RouteConfiguration.
type routeCfg struct {
	name   string
	exact  map[string]*vhostCfg
	suffix []suffixHost // longest suffix first
	any    *vhostCfg
}

type suffixHost struct {
	suffix string
	vh     *vhostCfg
}

// vhostCfg is a compiled VirtualHost.
type vhostCfg struct {
	name          string
	routes        []*routeEntry
	removeHeaders []string
}

// routeEntry is a compiled Route.
type routeEntry struct {
	prefix   string
	cluster  string
	redirect *redirectCfg
	// direct is the status of a direct_response (0: none).
	direct int
	// authzExt are the ext_authz context extensions; nil without an
	// ExtAuthzPerRoute.
	authzExt map[string]string
	// authzOff: ExtAuthzPerRoute.disabled, the ext_authz filter is
	// skipped for this route.
	authzOff bool
}

// redirectCfg is a compiled https_redirect.
type redirectCfg struct{ port uint32 }

// compileRoute compiles a route configuration.
func compileRoute(rc *routev3.RouteConfiguration) (*routeCfg, error) {
	c := &routeCfg{name: rc.GetName(), exact: map[string]*vhostCfg{}}
	seen := map[string]bool{}
	for _, v := range rc.GetVirtualHosts() {
		vh, err := compileVirtualHost(v)
		if err != nil {
			return nil, fmt.Errorf("virtual host %q: %w", v.GetName(), err)
		}
		for _, d := range v.GetDomains() {
			d = strings.ToLower(d)
			if seen[d] {
				return nil, fmt.Errorf("domain %q is in two virtual hosts", d)
			}
			seen[d] = true
			if err := c.addDomain(d, vh); err != nil {
				return nil, err
			}
		}
	}
	slices.SortStableFunc(c.suffix, func(a, b suffixHost) int { return len(b.suffix) - len(a.suffix) })
	return c, nil
}

// addDomain indexes one domain: exact, "*suffix" or "*".
func (c *routeCfg) addDomain(d string, vh *vhostCfg) error {
	switch {
	case d == "*":
		c.any = vh
	case strings.HasPrefix(d, "*") && !strings.Contains(d[1:], "*"):
		c.suffix = append(c.suffix, suffixHost{suffix: d[1:], vh: vh})
	case strings.Contains(d, "*"):
		return fmt.Errorf("domain %q is not implemented (exact, *suffix or * only)", d)
	default:
		c.exact[d] = vh
	}
	return nil
}

// vhost picks the virtual host for a Host (port already stripped).
func (c *routeCfg) vhost(host string) *vhostCfg {
	host = strings.ToLower(host)
	if vh := c.exact[host]; vh != nil {
		return vh
	}
	for _, s := range c.suffix {
		if len(host) > len(s.suffix) && strings.HasSuffix(host, s.suffix) {
			return s.vh
		}
	}
	return c.any
}

// route picks the first route whose prefix matches path (no query).
func (vh *vhostCfg) route(path string) *routeEntry {
	for _, r := range vh.routes {
		if strings.HasPrefix(path, r.prefix) {
			return r
		}
	}
	return nil
}

func compileVirtualHost(v *routev3.VirtualHost) (*vhostCfg, error) {
	vh := &vhostCfg{name: v.GetName()}
	for _, h := range v.GetRequestHeadersToRemove() {
		h = strings.ToLower(h)
		if strings.HasPrefix(h, ":") || h == "host" {
			return nil, fmt.Errorf("request_headers_to_remove may not name %q", h)
		}
		vh.removeHeaders = append(vh.removeHeaders, h)
	}
	for i, r := range v.GetRoutes() {
		e, err := compileRouteEntry(r)
		if err != nil {
			return nil, fmt.Errorf("route %d: %w", i, err)
		}
		vh.routes = append(vh.routes, e)
	}
	return vh, nil
}

func compileRouteEntry(r *routev3.Route) (*routeEntry, error) {
	e := &routeEntry{prefix: r.GetMatch().GetPrefix()}
	if _, ok := r.GetMatch().GetPathSpecifier().(*routev3.RouteMatch_Prefix); !ok {
		return nil, errors.New("only prefix matches are implemented")
	}
	switch {
	case r.GetRoute() != nil:
		e.cluster = r.GetRoute().GetCluster()
		if e.cluster == "" {
			return nil, errors.New("only route.cluster is implemented")
		}
	case r.GetRedirect() != nil:
		if !r.GetRedirect().GetHttpsRedirect() {
			return nil, errors.New("only https_redirect redirects are implemented")
		}
		e.redirect = &redirectCfg{port: r.GetRedirect().GetPortRedirect()}
	case r.GetDirectResponse() != nil:
		e.direct = int(r.GetDirectResponse().GetStatus()) // 200..599, checked by ValidateAll
	default:
		return nil, errors.New("only route, redirect and direct_response actions are implemented")
	}
	for name, cfg := range r.GetTypedPerFilterConfig() {
		if name != extAuthzName {
			return nil, fmt.Errorf("typed_per_filter_config for %q is not implemented", name)
		}
		per := &extauthzv3.ExtAuthzPerRoute{}
		if err := unpack(cfg, per); err != nil {
			return nil, err
		}
		if per.GetDisabled() {
			e.authzOff = true
			continue
		}
		if per.GetCheckSettings() == nil {
			return nil, errors.New("only ExtAuthzPerRoute.check_settings and disabled are implemented")
		}
		e.authzExt = per.GetCheckSettings().GetContextExtensions()
		if e.authzExt == nil {
			e.authzExt = map[string]string{}
		}
	}
	return e, nil
}
