package standin

import (
	"context"
	"fmt"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// deltaStream is one DeltaAggregatedResources stream.
type deltaStream struct {
	p    *Proxy
	s    discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	sent map[string][]string // names subscribed, per named type
	n    int                 // requests sent
}

// runDelta runs one delta stream until it breaks. got reports whether
// any response arrived.
func (p *Proxy) runDelta(ctx context.Context) (got bool, err error) {
	s, err := p.ads.DeltaAggregatedResources(ctx)
	if err != nil {
		return false, fmt.Errorf("open delta stream: %w", err)
	}
	st := &deltaStream{p: p, s: s, sent: map[string][]string{}}
	for _, t := range []string{ClusterType, ListenerType} {
		// No names on the first request: a wildcard subscription.
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, InitialResourceVersions: p.heldVersions(t, nil)}
		if err := st.send(req); err != nil {
			return false, err
		}
	}
	if err := st.resubscribe(); err != nil {
		return false, err
	}
	for {
		resp, err := s.Recv()
		if err != nil {
			return got, fmt.Errorf("receive: %w", err)
		}
		got = true
		if err := st.handle(resp); err != nil {
			return got, err
		}
	}
}

// heldVersions are the versions of the resources held, for
// initial_resource_versions.
func (p *Proxy) heldVersions(typeURL string, names []string) map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.resourceVersions(typeURL, names)
}

func (st *deltaStream) send(req *discoveryv3.DeltaDiscoveryRequest) error {
	req.Node = st.p.node(st.n == 0)
	if err := st.s.Send(req); err != nil {
		return fmt.Errorf("send %s delta request: %w", shortType(req.GetTypeUrl()), err)
	}
	st.n++
	return nil
}

// handle applies a response and ACKs or NACKs it, then updates the
// named subscriptions.
func (st *deltaStream) handle(resp *discoveryv3.DeltaDiscoveryResponse) error {
	t := resp.GetTypeUrl()
	u, err := st.p.decodeDelta(resp, st.p.version(t))
	if err == nil {
		err = st.p.apply(u)
	}
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: resp.GetNonce()}
	if err != nil {
		req.ErrorDetail = nackStatus(st.p.reject(t, resp.GetSystemVersionInfo(), err))
		return st.send(req)
	}
	st.p.logf("standin: ACK delta %s version %q (%d resources, %d removed)", shortType(t),
		resp.GetSystemVersionInfo(), len(u.upsert), len(u.remove))
	if err := st.send(req); err != nil {
		return err
	}
	return st.resubscribe()
}

// resubscribe subscribes to newly referenced routes and secrets and
// unsubscribes from the others, forgetting them.
func (st *deltaStream) resubscribe() error {
	for t, want := range st.p.wanted() {
		sent := st.sent[t]
		var add, drop []string
		for _, n := range want {
			if !slices.Contains(sent, n) {
				add = append(add, n)
			}
		}
		for _, n := range sent {
			if !slices.Contains(want, n) {
				drop = append(drop, n)
			}
		}
		if len(add) == 0 && len(drop) == 0 {
			continue
		}
		st.sent[t] = want
		st.p.forget(t, want)
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResourceNamesSubscribe: add,
			ResourceNamesUnsubscribe: drop, InitialResourceVersions: st.p.heldVersions(t, add)}
		if err := st.send(req); err != nil {
			return err
		}
	}
	return nil
}
