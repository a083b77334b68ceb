package standin

import (
	"context"
	"fmt"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
)

// node identifies the stand-in to the control plane: the bootstrap's
// node on a stream's first request, and on every request unless the
// bootstrap sets set_node_on_first_message_only.
func (p *Proxy) node(first bool) *corev3.Node {
	if !first && p.boot.nodeOnce {
		return nil
	}
	return &corev3.Node{Id: p.boot.node.GetId(), Cluster: p.boot.node.GetCluster(), UserAgentName: "mtlsgate-envoy-standin"}
}

// nackStatus is the error_detail of a NACK.
func nackStatus(err error) *statuspb.Status {
	return &statuspb.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}
}

// version is the last accepted version of a type.
func (p *Proxy) version(typeURL string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.versions[typeURL]
}

// sotwStream is one StreamAggregatedResources stream.
type sotwStream struct {
	p     *Proxy
	s     discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	nonce map[string]string
	sent  map[string][]string // names last requested, per named type
	n     int                 // requests sent
}

// runSotW runs one SotW stream until it breaks. got reports whether any
// response arrived.
func (p *Proxy) runSotW(ctx context.Context) (got bool, err error) {
	s, err := p.ads.StreamAggregatedResources(ctx)
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	st := &sotwStream{p: p, s: s, nonce: map[string]string{}, sent: map[string][]string{}}
	for _, t := range []string{ClusterType, ListenerType} {
		if err := st.send(t, nil, "", nil); err != nil {
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

// send sends a request for typeURL with the last accepted version.
func (st *sotwStream) send(typeURL string, names []string, nonce string, nack error) error {
	req := &discoveryv3.DiscoveryRequest{
		VersionInfo: st.p.version(typeURL), Node: st.p.node(st.n == 0), ResourceNames: names,
		TypeUrl: typeURL, ResponseNonce: nonce,
	}
	if nack != nil {
		req.ErrorDetail = nackStatus(nack)
	}
	if err := st.s.Send(req); err != nil {
		return fmt.Errorf("send %s request: %w", shortType(typeURL), err)
	}
	st.n++
	return nil
}

// handle applies a response and ACKs or NACKs it, then updates the
// named subscriptions.
func (st *sotwStream) handle(resp *discoveryv3.DiscoveryResponse) error {
	t := resp.GetTypeUrl()
	st.nonce[t] = resp.GetNonce()
	u, err := st.p.decodeSotW(resp)
	if err == nil {
		err = st.p.apply(u)
	}
	if err != nil {
		nack := st.p.reject(t, resp.GetVersionInfo(), err)
		return st.send(t, st.sent[t], resp.GetNonce(), nack)
	}
	st.p.logf("standin: ACK %s version %q (%d resources)", shortType(t), resp.GetVersionInfo(), len(u.upsert))
	if err := st.send(t, st.sent[t], resp.GetNonce(), nil); err != nil {
		return err
	}
	return st.resubscribe()
}

// resubscribe requests the routes and secrets the listeners now
// reference, when that set changed, and forgets the others.
func (st *sotwStream) resubscribe() error {
	for t, want := range st.p.wanted() {
		sent, ok := st.sent[t]
		if (!ok && len(want) == 0) || (ok && slices.Equal(sent, want)) {
			continue
		}
		st.sent[t] = want
		if err := st.send(t, want, st.nonce[t], nil); err != nil {
			return err
		}
		st.p.forget(t, want)
	}
	return nil
}
