package authz

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mtlsgate/mtlsgate/authz/xfcc"
	"github.com/mtlsgate/mtlsgate/originhdr"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// xfccTrust is a site's compiled xfcc settings: which element of the
// x-forwarded-client-cert header carries the client certificate, and
// what makes it trusted. Envoy, when it adds an element (SANITIZE_SET,
// APPEND_FORWARD), appends it last and removes the header from requests
// whose client presented no certificate; whatever comes before the
// trusted element may have been written by the client.
type xfccTrust struct {
	hop   int            // 1: the last element
	by    []string       // when set, the element's By must name one
	peers []netip.Prefix // when set, the request's source must be in one
	// earlier: elements before the trusted one are accepted (else the
	// header has exactly hop elements).
	earlier bool
}

// newXFCCTrust compiles stored settings (validated by the store; the
// defaults of records that predate them are filled here too).
func newXFCCTrust(x *pb.XFCCSettings) (*xfccTrust, error) {
	t := &xfccTrust{hop: max(int(x.GetHop()), 1), by: x.GetTrustedBy(), earlier: x.GetAllowEarlierElements()}
	if t.hop > xfcc.MaxElements {
		return nil, fmt.Errorf("xfcc.hop %d is more than %d", t.hop, xfcc.MaxElements)
	}
	for _, s := range x.GetTrustedPeers() {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("xfcc.trusted_peers: %w", err)
		}
		t.peers = append(t.peers, p)
	}
	return t, nil
}

// presented is the client certificate a request carries, as its site's
// certificate source gives it. The zero value is no certificate.
type presented struct {
	// encoded is URL-encoded PEM: the leaf (source.certificate, an XFCC
	// Cert), or the chain, leaf first (an XFCC Chain).
	encoded string
	// hash is the XFCC element's Hash; alone when the element carries no
	// Cert or Chain, and then only pins can admit the certificate.
	hash string
	// bad: the header is malformed (why says how).
	bad bool
	// why says why no certificate was read, or how the header is bad.
	why error
}

// The reasons a trusted element is missing, for the decision log.
var (
	errXFCCOnlyHash = errors.New("xfcc: the trusted element carries only Hash: only a pin can admit it")
	errXFCCMismatch = errors.New("xfcc: the element's Hash is not the SHA-256 of its certificate")
	errXFCCNoHash   = errors.New("xfcc: the trusted element has no Hash, which Envoy always writes")
)

// read finds the certificate the trusted element of the request's
// x-forwarded-client-cert header carries.
func (x *xfccTrust) read(attrs *authv3.AttributeContext) presented {
	if len(x.peers) > 0 && !x.fromTrustedPeer(attrs) {
		return presented{why: fmt.Errorf("xfcc: the request's source %q is not among xfcc.trusted_peers",
			cut(attrs.GetSource().GetAddress().GetSocketAddress().GetAddress()))}
	}
	header := attrs.GetRequest().GetHttp().GetHeaders()[originhdr.XFCC]
	if header == "" {
		return presented{}
	}
	elements, err := xfcc.Parse(header)
	if err != nil {
		return presented{bad: true, why: err}
	}
	if len(elements) < x.hop {
		return presented{why: fmt.Errorf("xfcc: %d element(s), none at hop %d", len(elements), x.hop)}
	}
	if len(elements) > x.hop && !x.earlier {
		// Behind a proxy that sanitises, more elements than hops can
		// only come from a value that split one: a SAN with a comma.
		return presented{bad: true, why: fmt.Errorf("xfcc: %d elements where %d proxies add one each", len(elements), x.hop)}
	}
	e := &elements[len(elements)-x.hop]
	if e.Hash == "" {
		return presented{bad: true, why: errXFCCNoHash}
	}
	if len(x.by) > 0 && !slices.ContainsFunc(e.By, func(b string) bool { return slices.Contains(x.by, b) }) {
		return presented{why: fmt.Errorf("xfcc: the element at hop %d is by %q, not by a trusted_by URI", x.hop, cut(strings.Join(e.By, ",")))}
	}
	switch {
	case e.Chain != "":
		// Envoy encodes Cert and Chain alike, so Chain starts with Cert.
		if e.Cert != "" && !strings.HasPrefix(e.Chain, e.Cert) {
			return presented{bad: true, why: errors.New("xfcc: Cert is not the first certificate of Chain")}
		}
		return presented{encoded: e.Chain, hash: e.Hash}
	case e.Cert != "":
		return presented{encoded: e.Cert, hash: e.Hash}
	}
	return presented{hash: e.Hash, why: errXFCCOnlyHash}
}

// fromTrustedPeer reports whether the request's source address (the peer
// of the Envoy asking) is in one of x.peers.
func (x *xfccTrust) fromTrustedPeer(attrs *authv3.AttributeContext) bool {
	a, err := netip.ParseAddr(attrs.GetSource().GetAddress().GetSocketAddress().GetAddress())
	if err != nil {
		return false
	}
	a = a.Unmap()
	return slices.ContainsFunc(x.peers, func(p netip.Prefix) bool { return p.Contains(a) })
}
