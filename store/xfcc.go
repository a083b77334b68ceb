package store

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Bounds on a site's xfcc settings. maxXFCCHop is the most elements an
// x-forwarded-client-cert header may have (authz/xfcc.MaxElements).
const (
	maxXFCCHop     = 16
	maxXFCCTrusted = 64
	maxXFCCByLen   = 512
)

// normalizeXFCC fills the default hop (1) and validates the trusted By
// URIs and peer networks, which are stored sorted, without duplicates,
// peers in canonical form (a bare address becomes its /32 or /128).
func normalizeXFCC(s *pb.ClientCertSettings) error {
	if s.Xfcc == nil {
		s.Xfcc = &pb.XFCCSettings{}
	}
	x := s.Xfcc
	if x.Hop == 0 {
		x.Hop = 1
	}
	if x.Hop > maxXFCCHop {
		return invalid("xfcc.hop", "must be between 1 and %d, got %d", maxXFCCHop, x.Hop)
	}
	if x.Hop > 1 && len(x.TrustedPeers) == 0 {
		// Past the first hop the element is whatever reached the Envoy
		// asking: only the network it came from says a front proxy
		// wrote it (a client reaching that Envoy directly could write
		// one, By included).
		return invalid("xfcc.trusted_peers", "must name the front proxy's networks when xfcc.hop is %d", x.Hop)
	}
	if len(x.TrustedBy) > maxXFCCTrusted || len(x.TrustedPeers) > maxXFCCTrusted {
		return invalid("xfcc", "at most %d trusted_by URIs and %d trusted_peers", maxXFCCTrusted, maxXFCCTrusted)
	}
	for i, by := range x.TrustedBy {
		if err := checkByURI(by); err != nil {
			return invalid(fmt.Sprintf("xfcc.trusted_by[%d]", i), "%v", err)
		}
	}
	for i, p := range x.TrustedPeers {
		canon, err := canonicalPeer(p)
		if err != nil {
			return invalid(fmt.Sprintf("xfcc.trusted_peers[%d]", i), "%v", err)
		}
		x.TrustedPeers[i] = canon
	}
	slices.Sort(x.TrustedBy)
	slices.Sort(x.TrustedPeers)
	x.TrustedBy = slices.Compact(x.TrustedBy)
	x.TrustedPeers = slices.Compact(x.TrustedPeers)
	return nil
}

// checkByURI accepts an absolute URI as Envoy writes it unquoted in By:
// printable ASCII without space, '"', ',' or ';'.
func checkByURI(by string) error {
	if len(by) == 0 || len(by) > maxXFCCByLen {
		return fmt.Errorf("must be 1 to %d bytes, got %d", maxXFCCByLen, len(by))
	}
	if i := strings.IndexFunc(by, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(`",;`, r) }); i >= 0 {
		return fmt.Errorf("%q: byte %d may not appear in an XFCC By value", by, i)
	}
	if u, err := url.Parse(by); err != nil || u.Scheme == "" {
		return fmt.Errorf("%q is not an absolute URI such as spiffe://cluster.local/ns/istio-system/sa/gateway", by)
	}
	return nil
}

// canonicalPeer reads a CIDR or a bare address into canonical CIDR form.
func canonicalPeer(s string) (string, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Zone() != "" {
			return "", fmt.Errorf("%q: zones are not allowed", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked().String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", fmt.Errorf("%q is not a network (10.0.0.0/8, fd00::/8) or an address", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String(), nil
}
