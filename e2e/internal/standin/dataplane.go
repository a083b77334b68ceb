package standin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// runtimeTable is what the request path reads besides its listener:
// routes and clusters, swapped atomically.
type runtimeTable struct {
	routes   map[string]*routeCfg
	clusters map[string]*clusterRT
}

// applyDataPlane makes the data plane serve c: binds new listeners
// (failing without side effects), swaps routes and clusters in, activates
// every listener whose routes and secrets are all present, and closes
// listeners c no longer has. p.mu must be held.
func (p *Proxy) applyDataPlane(c *config) error {
	if p.closed {
		return errors.New("proxy closed")
	}
	bound, err := p.bindNew(c)
	if err != nil {
		return err
	}
	for name, l := range bound {
		p.listeners[name] = l
		p.serve(l)
	}
	p.swapRuntime(c)
	for name, r := range c.res[ListenerType] {
		p.activate(p.listeners[name], r.compiled.(*listenerCfg), c)
	}
	for name, l := range p.listeners {
		if c.res[ListenerType][name] == nil {
			l.close(true)
			delete(p.listeners, name)
		}
	}
	return nil
}

// bindNew binds the listeners c adds; on any failure it closes what it
// bound.
func (p *Proxy) bindNew(c *config) (map[string]*boundListener, error) {
	out := map[string]*boundListener{}
	for name, r := range c.res[ListenerType] {
		if p.listeners[name] != nil {
			continue
		}
		ln, err := net.Listen("tcp", r.compiled.(*listenerCfg).bindAddr)
		if err != nil {
			for _, l := range out {
				_ = l.ln.Close()
			}
			return nil, fmt.Errorf("bind listener %q: %w", name, err)
		}
		out[name] = &boundListener{name: name, ln: ln, chains: map[string]*chainRT{}}
	}
	return out, nil
}

// swapRuntime publishes c's routes and clusters, keeping the pools of
// unchanged clusters; replaced clusters are closed a little later.
func (p *Proxy) swapRuntime(c *config) {
	rt := &runtimeTable{routes: map[string]*routeCfg{}, clusters: map[string]*clusterRT{}}
	for name, r := range c.res[RouteType] {
		rt.routes[name] = r.compiled.(*routeCfg)
	}
	for name, r := range c.res[ClusterType] {
		cfg := r.compiled.(*clusterCfg)
		if old := p.clusters[name]; old != nil && old.same(cfg) {
			rt.clusters[name] = old
			continue
		}
		rt.clusters[name] = newClusterRT(cfg)
	}
	for name, static := range p.rt.Load().clusters {
		if _, ok := p.boot.static[name]; ok {
			rt.clusters[name] = static // the bootstrap's, never replaced
		}
	}
	for name, old := range p.clusters {
		if rt.clusters[name] != old {
			p.retire(old)
		}
	}
	p.clusters = rt.clusters
	p.rt.Store(rt)
}

// retire closes a replaced cluster once in-flight requests had time to
// finish (Envoy drains it).
func (p *Proxy) retire(c *clusterRT) {
	p.retired = append(p.retired, c)
	time.AfterFunc(5*time.Second, c.close)
}

// activate makes lc the listener's serving version if everything it
// references is present ("warm"); otherwise the serving version stays.
func (p *Proxy) activate(l *boundListener, lc *listenerCfg, c *config) {
	bundles := make([]*tlsBundle, len(lc.chains))
	for i, cc := range lc.chains {
		var ok bool
		bundles[i], ok = chainTLS(cc, c)
		if !ok || c.res[RouteType][cc.hcm.routeName] == nil {
			return // warming: keep the serving version
		}
	}
	chains := map[string]*chainRT{}
	act := &activeListener{cfg: lc, exact: map[string]*chainRT{}, wild: map[string]*chainRT{}}
	for i, cc := range lc.chains {
		rt := l.chains[cc.key]
		if rt == nil {
			rt = p.newChainRT(l, cc)
		}
		rt.tls.Store(bundles[i])
		chains[cc.key] = rt
		act.index(rt)
	}
	for key, old := range l.chains {
		if chains[key] == nil {
			old.shutdown(true)
		}
	}
	l.chains, l.applied = chains, lc
	l.active.Store(act)
}

// chainTLS builds a chain's TLS configuration from the secrets in c; ok
// is false while a secret is missing. Plaintext chains get nil.
func chainTLS(cc *chainCfg, c *config) (*tlsBundle, bool) {
	if cc.tls == nil {
		return nil, true
	}
	cert, ok := c.res[SecretType][cc.tls.certSecret]
	if !ok || cert.compiled.(*secretCfg).cert == nil {
		return nil, false
	}
	var vc *validationCfg
	if cc.tls.vcSecret != "" {
		r, ok := c.res[SecretType][cc.tls.vcSecret]
		if !ok || r.compiled.(*secretCfg).vc == nil {
			return nil, false
		}
		vc = r.compiled.(*secretCfg).vc
	}
	return newTLSBundle(cc.tls, cert.compiled.(*secretCfg).cert, vc), true
}

// tlsBundle is a chain's server TLS configuration.
type tlsBundle struct {
	config    *tls.Config
	principal string // the server certificate's principal (destination)
}

func newTLSBundle(d *downstreamTLS, cert *serverCert, vc *validationCfg) *tlsBundle {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert.pair},
		MinVersion:   d.minVersion,
		MaxVersion:   tls.VersionTLS13,
		NextProtos:   d.alpn,
		ClientAuth:   tls.NoClientCert,
	}
	if vc != nil {
		// The CA subjects go in the CertificateRequest; verification is
		// Envoy's, done here.
		cfg.ClientCAs = vc.roots
		cfg.ClientAuth = tls.RequestClientCert
		if d.require {
			cfg.ClientAuth = tls.RequireAnyClientCert
		}
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return vc.verify(raw, time.Now())
		}
	}
	return &tlsBundle{config: cfg, principal: cert.principal}
}
