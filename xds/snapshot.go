package xds

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Snapshot turns a translation into a go-control-plane snapshot. Versions
// are content hashes, so a restarted control plane offers Envoy the very
// versions it already has and nothing is re-sent: each resource's is the
// SHA-256 of its encoding (see hashOf), each type's a hash of its
// resources' versions. Translate hashed every resource when it built it,
// and Snapshot fills the snapshot's VersionMap, which delta xDS uses,
// with those versions: go-control-plane has nothing left to hash.
func (r *FleetResources) Snapshot() (*cachev3.Snapshot, error) {
	meta := r.meta
	if meta == nil {
		var err error
		if meta, err = r.computeMeta(); err != nil {
			return nil, err
		}
	}
	s := &cachev3.Snapshot{VersionMap: make(map[string]map[string]string, numTypes)}
	for i, m := range meta.types {
		s.Resources[cachev3.GetResponseType(typeURLs[i])] = m.resources
		s.VersionMap[typeURLs[i]] = m.versions
	}
	return s, nil
}

// computeMeta hashes the resources and checks their references, for
// FleetResources that Translate did not make.
func (r *FleetResources) computeMeta() (*resourceMeta, error) {
	meta := &resourceMeta{}
	var err error
	if meta.types[typeListener], err = hashAll(r.Listeners); err != nil {
		return nil, err
	}
	if meta.types[typeRoute], err = hashAll(r.Routes); err != nil {
		return nil, err
	}
	if meta.types[typeCluster], err = hashAll(r.Clusters); err != nil {
		return nil, err
	}
	if meta.types[typeSecret], err = hashAll(r.Secrets); err != nil {
		return nil, err
	}
	var refs []chainRefs
	for _, l := range r.Listeners {
		for _, c := range l.GetFilterChains() {
			cr, err := readRefs(c)
			if err != nil {
				return nil, err
			}
			refs = append(refs, cr)
		}
	}
	if err := checkReferences(nameList(r.Routes), nameList(r.Secrets), refs); err != nil {
		return nil, err
	}
	return meta, nil
}

func hashAll[M namedResource](items []M) (*typeMeta, error) {
	hs := make([]hashed[M], len(items))
	for i, it := range items {
		h, err := hashOf(it)
		if err != nil {
			return nil, err
		}
		hs[i] = hashed[M]{msg: it, hash: h}
	}
	return newTypeMeta(nil, hs), nil
}

func nameList[M namedResource](items []M) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.GetName()
	}
	return out
}

// checkReferences checks what go-control-plane's Snapshot.Consistent
// checks for the resources mtlsgate serves (every route configuration a
// listener names exists, and every one is named; mtlsgate makes no EDS
// clusters) and what it does not: every SDS secret a listener names
// exists, and every secret is named by one. An unreferenced secret would
// also stall SDS for the whole fleet: in ADS mode go-control-plane answers
// a state-of-the-world request only when it lists every resource of its
// type, and Envoy lists only what it uses.
func checkReferences(routes, secrets []string, refs []chainRefs) error {
	var routeRefs, secretRefs []string
	for _, r := range refs {
		if r.route != "" {
			routeRefs = append(routeRefs, r.route)
		}
		secretRefs = append(secretRefs, r.secrets...)
	}
	if err := sameNames("route", routes, routeRefs); err != nil {
		return err
	}
	return sameNames("secret", secrets, secretRefs)
}

// sameNames checks that the resources are exactly the referenced ones.
func sameNames(kind string, names, refs []string) error {
	referenced := make(map[string]bool, len(refs))
	for _, name := range refs {
		referenced[name] = true
	}
	have := make(map[string]bool, len(names))
	for _, name := range names {
		have[name] = true
		if !referenced[name] {
			return fmt.Errorf("inconsistent snapshot: %s %s is not referenced by any listener", kind, name)
		}
	}
	for name := range referenced {
		if !have[name] {
			return fmt.Errorf("inconsistent snapshot: %s %s is referenced but missing", kind, name)
		}
	}
	return nil
}

// readRefs reads what a filter chain names from its configuration.
func readRefs(c *listenerv3.FilterChain) (chainRefs, error) {
	var refs chainRefs
	for _, f := range c.GetFilters() {
		if name := resourcev3.GetHTTPConnectionManager(f).GetRds().GetRouteConfigName(); name != "" {
			refs.route = name
		}
	}
	var err error
	refs.secrets, err = tlsRefs(c.GetTransportSocket())
	return refs, err
}

// tlsRefs returns the SDS secret names a downstream TLS socket uses.
func tlsRefs(ts *corev3.TransportSocket) ([]string, error) {
	if ts == nil {
		return nil, nil
	}
	ctx := &tlsv3.DownstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return nil, fmt.Errorf("inconsistent snapshot: transport socket: %w", err)
	}
	return tlsSecretNames(ctx), nil
}
