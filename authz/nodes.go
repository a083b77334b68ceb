package authz

import (
	"context"
	"crypto/x509"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/nodeid"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/store"
)

// Node identities on ext_authz.
//
// With Options.RequireNodeIdentity, a Check is answered only for an Envoy
// node that presented a verified node certificate (nodeid) which the
// current State does not revoke; any other caller gets a gRPC error
// (Unauthenticated, PermissionDenied, or Unavailable before the first
// policy), never an answer, so Envoy fails closed. A node is answered only
// for the sites of its fleet: a site placed on other fleets is denied with
// contract.ReasonWrongFleet.
//
// The node is read from its connection once: the certificate Go verified
// at the handshake is the same object for every call on a connection,
// and the node it names is kept in a small cache keyed by it. Revocation is
// read on every call from the State the current Table was compiled from
// (one map lookup), so a revocation reaches open connections with the
// table that carries it.

// Why a caller was refused: the reason label of
// mtlsgate_authz_refused_calls_total.
const (
	refusedNoIdentity = "no_identity"
	refusedRevoked    = "revoked"
	refusedNoPolicy   = "no_policy"
)

// nodeView is what a Table knows of nodes: the State (for revocation)
// and the fleets of the sites placed on fleets. It is immutable.
type nodeView struct {
	state  *store.State
	fleets map[string][]string // site key → its fleets; absent: every fleet
}

// newNodeView indexes the fleets of st's sites.
func newNodeView(st *store.State) *nodeView {
	v := &nodeView{state: st}
	for _, site := range st.Sites() {
		if fs := site.GetFleets(); len(fs) > 0 {
			if v.fleets == nil {
				v.fleets = map[string][]string{}
			}
			v.fleets[site.GetHostname()] = fs
		}
	}
	return v
}

// serves reports whether the nodes of fleet serve the site with key.
func (v *nodeView) serves(key, fleet string) bool {
	fs, placed := v.fleets[key]
	if !placed {
		return true
	}
	for _, f := range fs {
		if f == fleet {
			return true
		}
	}
	return false
}

// peerNode is the node a connection's certificate names.
type peerNode struct {
	id     nodeid.Identity
	serial string // pki.SerialHex, as the store keys revocations
}

// maxPeers bounds the node cache. Envoy keeps few, long-lived connections
// to ext_authz; past the bound the cache starts again empty.
const maxPeers = 4096

// peerCache maps a connection's verified leaf certificate to its node.
// Reads take no lock: the map is replaced, never changed.
type peerCache struct {
	mu sync.Mutex
	m  atomic.Pointer[map[*x509.Certificate]*peerNode]
}

// node returns the node of the call's connection.
func (c *peerCache) node(ctx context.Context) (*peerNode, error) {
	leaf := verifiedLeaf(ctx)
	if leaf == nil {
		_, _, err := nodeid.FromPeer(ctx) // says why
		if err == nil {
			err = nodeid.ErrNoIdentity
		}
		return nil, err
	}
	if m := c.m.Load(); m != nil {
		if n := (*m)[leaf]; n != nil {
			return n, nil
		}
	}
	id, err := nodeid.FromCertificate(leaf)
	if err != nil {
		return nil, err
	}
	n := &peerNode{id: id, serial: pki.SerialHex(leaf.SerialNumber)}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := map[*x509.Certificate]*peerNode{}
	if m := c.m.Load(); m != nil && len(*m) < maxPeers {
		next = maps.Clone(*m)
	}
	next[leaf] = n
	c.m.Store(&next)
	return n, nil
}

// verifiedLeaf is the client certificate the TLS handshake of the call's
// connection verified, or nil.
func verifiedLeaf(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return info.State.VerifiedChains[0][0]
}

// admit checks the caller against t and returns its fleet ("" when node
// identities are not required: then no fleet is enforced).
func (s *Service) admit(ctx context.Context, t *Table) (string, error) {
	if !s.requireNode {
		return "", nil
	}
	n, err := s.peers.node(ctx)
	switch {
	case err != nil:
		return "", s.refuse(refusedNoIdentity, codes.Unauthenticated, "a node certificate issued by mtlsgate is required", nil, err)
	case t.nodes == nil:
		return "", s.refuse(refusedNoPolicy, codes.Unavailable, "no policy yet", n, nil)
	case !t.nodes.state.NodeServable(n.serial, s.now()):
		return "", s.refuse(refusedRevoked, codes.PermissionDenied, "the node certificate is revoked, expired or unknown", n, nil)
	}
	return n.id.Fleet, nil
}

// refuse counts a refused call, logs it (at most once a second: a refused
// Envoy calls at its request rate), and returns its gRPC error.
func (s *Service) refuse(reason string, code codes.Code, msg string, n *peerNode, err error) error {
	s.metrics.refusedCall(reason)
	if s.refusalLog.allow(s.now()) {
		attrs := []any{"reason", reason, "code", code.String()}
		if n != nil {
			attrs = append(attrs, "node", n.id.Node, "fleet", n.id.Fleet, "serial", n.serial)
		}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		s.log.Warn("ext_authz call refused (logged at most once a second)", attrs...)
	}
	return status.Error(code, msg)
}

// onceASecond lets one event a second through.
type onceASecond struct{ last atomic.Int64 }

func (o *onceASecond) allow(now time.Time) bool {
	prev := o.last.Load()
	return now.UnixNano()-prev >= int64(time.Second) && o.last.CompareAndSwap(prev, now.UnixNano())
}

// fleetDenial replaces a decision about a site the node's fleet does not
// serve: a node asks only about the sites it holds.
func (t *Table) fleetDenial(d *Decision, fleet string) *Decision {
	if fleet == "" || t.nodes == nil || t.nodes.serves(d.Site, fleet) {
		return d
	}
	return deny(d.Site, 403, contract.ReasonWrongFleet)
}
