package standin

import (
	"errors"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// newResource returns an empty message of a subscribed type.
func newResource(typeURL string) (proto.Message, error) {
	switch typeURL {
	case ListenerType:
		return &listenerv3.Listener{}, nil
	case RouteType:
		return &routev3.RouteConfiguration{}, nil
	case ClusterType:
		return &clusterv3.Cluster{}, nil
	case SecretType:
		return &tlsv3.Secret{}, nil
	}
	return nil, fmt.Errorf("resource type %q is not subscribed", typeURL)
}

// decodeResource unpacks, validates, checks and compiles one resource.
func (p *Proxy) decodeResource(typeURL string, a *anypb.Any) (*resource, error) {
	if a.GetTypeUrl() != typeURL {
		return nil, fmt.Errorf("resource of type %q in a %s response", a.GetTypeUrl(), shortType(typeURL))
	}
	m, err := newResource(typeURL)
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(a.GetValue(), m); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := m.(validator).ValidateAll(); err != nil {
		return nil, fmt.Errorf("invalid: %w", err)
	}
	if err := configWalker.check(m); err != nil {
		return nil, err
	}
	r := &resource{msg: m}
	switch v := m.(type) {
	case *listenerv3.Listener:
		r.name = v.GetName()
		r.compiled, err = compileListener(v, p.o.ListenerAddrs)
	case *routev3.RouteConfiguration:
		r.name = v.GetName()
		r.compiled, err = compileRoute(v)
	case *clusterv3.Cluster:
		r.name = v.GetName()
		if _, static := p.boot.static[r.name]; static {
			// As Envoy: CDS cannot replace a static cluster.
			err = errors.New("a static cluster of the bootstrap cannot be replaced by CDS")
		} else {
			r.compiled, err = compileCluster(v)
		}
	case *tlsv3.Secret:
		r.name = v.GetName()
		r.compiled, err = compileSecret(v)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", shortType(typeURL), r.name, err)
	}
	return r, nil
}

// decodeSotW turns a SotW response into an update.
func (p *Proxy) decodeSotW(resp *discoveryv3.DiscoveryResponse) (*update, error) {
	t := resp.GetTypeUrl()
	if _, err := newResource(t); err != nil {
		return nil, err
	}
	if err := envelopeWalker.check(resp); err != nil {
		return nil, err
	}
	u := &update{typeURL: t, version: resp.GetVersionInfo(), full: t == ListenerType || t == ClusterType}
	seen := map[string]bool{}
	for _, a := range resp.GetResources() {
		// The error names the resource, not its position: SotW responses
		// come in any order, and a repeated rejection must read the same.
		r, err := p.decodeResource(t, a)
		if err != nil {
			return nil, err
		}
		if seen[r.name] {
			return nil, fmt.Errorf("duplicate resource %q", r.name)
		}
		seen[r.name] = true
		u.upsert = append(u.upsert, r)
	}
	return u, nil
}

// decodeDelta turns a delta response into an update.
func (p *Proxy) decodeDelta(resp *discoveryv3.DeltaDiscoveryResponse, prev string) (*update, error) {
	t := resp.GetTypeUrl()
	if _, err := newResource(t); err != nil {
		return nil, err
	}
	if err := envelopeWalker.check(resp); err != nil {
		return nil, err
	}
	u := &update{typeURL: t, version: resp.GetSystemVersionInfo(), remove: resp.GetRemovedResources()}
	if u.version == "" {
		u.version = prev
	}
	seen := map[string]bool{}
	for i, res := range resp.GetResources() {
		if res.GetResource() == nil {
			return nil, fmt.Errorf("resource %d (%q) has no body", i, res.GetName())
		}
		r, err := p.decodeResource(t, res.GetResource())
		if err != nil {
			return nil, fmt.Errorf("resource %q: %w", res.GetName(), err)
		}
		if r.name != res.GetName() || seen[r.name] {
			return nil, fmt.Errorf("resource %d: name %q does not match %q or is duplicated", i, r.name, res.GetName())
		}
		seen[r.name] = true
		r.version = res.GetVersion()
		u.upsert = append(u.upsert, r)
	}
	return u, nil
}
