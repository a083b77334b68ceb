// Package outbound makes the HTTP requests mtlsgate sends on its own: CRL
// fetches from distribution points and OCSP queries to responders. Their
// URLs come from certificates or from operator settings, so a request is
// a way into the operator's network unless it is held to a policy: http
// and https only, no redirect to another scheme, an optional allow-list of
// hosts, and address ranges (loopback, link-local, private, ...) denied
// unless allowed. The address check runs on the address actually dialled,
// so a name that resolves to a denied address (DNS rebinding included) is
// refused too. Bodies are bounded before they are read.
package outbound

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrForbidden is wrapped by every refusal of the policy.
var ErrForbidden = errors.New("outbound: destination not allowed")

// Policy says where outbound requests may go.
type Policy struct {
	// AllowHosts, when not empty, lists the only hosts requests may name:
	// exact names, or "*.example.com" for any name under example.com.
	// Matching is case-insensitive; an IPv4 literal is matched as written
	// (IPv6 literals cannot be listed: allow their range instead).
	AllowHosts []string
	// AllowNets are ranges allowed although denied by default, e.g. the
	// private network of an internal PKI.
	AllowNets []netip.Prefix
	// DenyNets are further ranges denied. They win over AllowNets.
	DenyNets []netip.Prefix
}

// DefaultDenied are the ranges refused unless Policy.AllowNets allows
// them: this host, private and shared networks, link-local (cloud
// metadata services live there), benchmarking, documentation, multicast
// and reserved space, for IPv4 and IPv6. An IPv4-mapped IPv6 address is
// checked as the IPv4 address it carries.
var DefaultDenied = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
	"192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
	"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "2001:db8::/32",
	"2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// UnmapPrefix turns an IPv4-mapped IPv6 range (::ffff:10.0.0.0/104) into
// the IPv4 range it maps, as addresses are compared unmapped.
func UnmapPrefix(n netip.Prefix) netip.Prefix {
	if n.Addr().Is4In6() && n.Bits() >= 96 {
		return netip.PrefixFrom(n.Addr().Unmap(), n.Bits()-96).Masked()
	}
	return n.Masked()
}

// Validate checks the policy's entries.
func (p Policy) Validate() error {
	for _, h := range p.AllowHosts {
		name := strings.TrimPrefix(h, "*.")
		if name == "" || strings.ContainsAny(name, "*/:@ ") {
			return fmt.Errorf("outbound: allowed host %q: want a host name, or *.domain", h)
		}
	}
	return nil
}

// hostAllowed tells whether host (from a URL, without port) may be named.
func (p Policy) hostAllowed(host string) error {
	if len(p.AllowHosts) == 0 {
		return nil
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.AllowHosts {
		h = strings.ToLower(h)
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return nil
			}
		} else if host == h {
			return nil
		}
	}
	return fmt.Errorf("%w: host %q is not in the allow-list", ErrForbidden, host)
}

// addrAllowed tells whether an address may be dialled. An address with
// a zone ("fe80::1%eth0", "::1%lo") is refused: no range contains it, and
// the kernel ignores the zone of a non-link-local address.
func (p Policy) addrAllowed(a netip.Addr) error {
	if a.Zone() != "" {
		return fmt.Errorf("%w: address %s has a zone", ErrForbidden, a)
	}
	a = a.Unmap()
	if contains(p.DenyNets, a) {
		return fmt.Errorf("%w: address %s is in a denied range", ErrForbidden, a)
	}
	if contains(p.AllowNets, a) {
		return nil
	}
	if contains(DefaultDenied, a) {
		return fmt.Errorf("%w: address %s is loopback, link-local, private or reserved (allow its range to reach it)", ErrForbidden, a)
	}
	return nil
}

func contains(nets []netip.Prefix, a netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}
