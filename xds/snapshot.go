package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// Snapshot turns a translation into a go-control-plane snapshot. Each
// type's version is a hash of its content, so a restarted control plane
// offers Envoy the very versions it already has and nothing is re-sent;
// delta xDS versions every resource by its own hash.
func (r *Resources) Snapshot() (*cachev3.Snapshot, error) {
	s := &cachev3.Snapshot{}
	for typ, items := range map[types.ResponseType][]types.Resource{
		types.Listener: resourcesOf(r.Listeners),
		types.Route:    resourcesOf(r.Routes),
		types.Cluster:  resourcesOf(r.Clusters),
		types.Secret:   resourcesOf(r.Secrets),
	} {
		v, err := contentVersion(items)
		if err != nil {
			return nil, err
		}
		s.Resources[typ] = cachev3.NewResources(v, items)
	}
	if err := s.Consistent(); err != nil {
		return nil, fmt.Errorf("inconsistent snapshot: %w", err)
	}
	if err := r.secretsConsistent(); err != nil {
		return nil, err
	}
	return s, nil
}

// secretsConsistent checks what Snapshot.Consistent does not: every SDS
// secret a listener names exists, and every secret is named by one. An
// unreferenced secret would also stall SDS for the whole fleet: in ADS
// mode go-control-plane answers a state-of-the-world request only when it
// lists every resource of its type, and Envoy lists only what it uses.
func (r *Resources) secretsConsistent() error {
	referenced := map[string]bool{}
	for _, l := range r.Listeners {
		for _, c := range l.GetFilterChains() {
			if err := sdsNames(c.GetTransportSocket(), referenced); err != nil {
				return err
			}
		}
	}
	have := map[string]bool{}
	for _, sec := range r.Secrets {
		have[sec.GetName()] = true
		if !referenced[sec.GetName()] {
			return fmt.Errorf("inconsistent snapshot: secret %s is not referenced by any listener", sec.GetName())
		}
	}
	for name := range referenced {
		if !have[name] {
			return fmt.Errorf("inconsistent snapshot: secret %s is referenced but missing", name)
		}
	}
	return nil
}

// sdsNames adds the SDS secret names a downstream TLS socket uses.
func sdsNames(ts *corev3.TransportSocket, into map[string]bool) error {
	if ts == nil {
		return nil
	}
	ctx := &tlsv3.DownstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return fmt.Errorf("inconsistent snapshot: transport socket: %w", err)
	}
	common := ctx.GetCommonTlsContext()
	for _, c := range common.GetTlsCertificateSdsSecretConfigs() {
		into[c.GetName()] = true
	}
	if v := common.GetValidationContextSdsSecretConfig(); v != nil {
		into[v.GetName()] = true
	}
	return nil
}

func resourcesOf[M types.Resource](ms []M) []types.Resource {
	out := make([]types.Resource, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}

// contentVersion hashes resources (already sorted by name) with
// deterministic encoding.
func contentVersion(items []types.Resource) (string, error) {
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	for _, it := range items {
		b, err := opts.Marshal(it)
		if err != nil {
			return "", fmt.Errorf("hash resource: %w", err)
		}
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
