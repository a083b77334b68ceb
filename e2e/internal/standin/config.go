package standin

import (
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"
)

// resource is one accepted resource with its compiled form.
type resource struct {
	name     string
	version  string // delta resource version; "" in SotW
	msg      proto.Message
	compiled any // *listenerCfg, *routeCfg, *clusterCfg or *secretCfg
}

// config is an immutable set of accepted resources.
type config struct {
	res        map[string]map[string]*resource // type URL → name → resource
	versions   map[string]string
	rejections int
}

func newConfig() *config {
	c := &config{res: map[string]map[string]*resource{}, versions: map[string]string{}}
	for _, t := range []string{ListenerType, RouteType, ClusterType, SecretType} {
		c.res[t] = map[string]*resource{}
	}
	return c
}

// update is a validated change to one resource type.
type update struct {
	typeURL string
	version string // accepted version to record
	full    bool   // upsert is the whole set of the type (SotW LDS, CDS)
	upsert  []*resource
	remove  []string
}

// clone copies c's outer maps; the per-type maps are shared until
// replaced.
func (c *config) clone() *config {
	return &config{res: maps.Clone(c.res), versions: maps.Clone(c.versions), rejections: c.rejections}
}

// with returns c changed by u.
func (c *config) with(u *update) *config {
	n := c.clone()
	byName := map[string]*resource{}
	if !u.full {
		byName = maps.Clone(c.res[u.typeURL])
	}
	for _, r := range u.upsert {
		byName[r.name] = r
	}
	for _, name := range u.remove {
		delete(byName, name)
	}
	n.res[u.typeURL] = byName
	n.versions[u.typeURL] = u.version
	return n
}

// withRejection counts one more NACK.
func (c *config) withRejection() *config {
	n := c.clone()
	n.rejections++
	return n
}

// keeping returns c with only the named resources of typeURL, and whether
// anything was dropped.
func (c *config) keeping(typeURL string, keep []string) (*config, bool) {
	byName := maps.Clone(c.res[typeURL])
	dropped := false
	for name := range byName {
		if !slices.Contains(keep, name) {
			delete(byName, name)
			dropped = true
		}
	}
	if !dropped {
		return c, false
	}
	n := c.clone()
	n.res[typeURL] = byName
	return n, true
}

// resourceVersions are the delta versions held for typeURL, for
// initial_resource_versions.
func (c *config) resourceVersions(typeURL string, names []string) map[string]string {
	out := map[string]string{}
	for name, r := range c.res[typeURL] {
		if names == nil || slices.Contains(names, name) {
			out[name] = r.version
		}
	}
	return out
}

// apply makes u part of the configuration if the data plane accepts it.
func (p *Proxy) apply(u *update) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.cfg.with(u)
	if err := p.applyDataPlane(next); err != nil {
		return err
	}
	p.cfg = next
	p.publishLocked()
	return nil
}

// wanted returns the route and secret names the listeners reference:
// those of every accepted listener, and of the versions still serving
// while newer ones warm.
func (p *Proxy) wanted() map[string][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	routes, secrets := map[string]bool{}, map[string]bool{}
	add := func(l *listenerCfg) {
		if l == nil {
			return
		}
		for _, ch := range l.chains {
			routes[ch.hcm.routeName] = true
			if ch.tls != nil {
				secrets[ch.tls.certSecret] = true
				if ch.tls.vcSecret != "" {
					secrets[ch.tls.vcSecret] = true
				}
			}
		}
	}
	for _, r := range p.cfg.res[ListenerType] {
		add(r.compiled.(*listenerCfg))
	}
	for _, l := range p.listeners {
		add(l.applied)
	}
	return map[string][]string{
		RouteType:  slices.Sorted(maps.Keys(routes)),
		SecretType: slices.Sorted(maps.Keys(secrets)),
	}
}

// forget drops the resources of typeURL not in keep (no longer
// subscribed), as Envoy does.
func (p *Proxy) forget(typeURL string, keep []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next, dropped := p.cfg.keeping(typeURL, keep)
	if !dropped {
		return
	}
	if err := p.applyDataPlane(next); err != nil {
		p.logf("standin: dropping unreferenced %s: %v", shortType(typeURL), err)
		return
	}
	p.cfg = next
	p.publishLocked()
}
