package envoy

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/mtlsgate/mtlsgate/nodeid"
)

// OptionError reports a BootstrapOptions field that cannot be used.
type OptionError struct {
	Field  string // the BootstrapOptions field, e.g. "XDSAddr"
	Value  string // the value given
	Reason string // why it was refused
}

// Error returns "envoy: invalid FIELD "VALUE": REASON".
func (e *OptionError) Error() string {
	return fmt.Sprintf("envoy: invalid %s %q: %s", e.Field, e.Value, e.Reason)
}

// endpoint is a checked host and port.
type endpoint struct {
	host string
	port uint32
	isIP bool
}

// withDefaults fills the empty optional fields.
func (o BootstrapOptions) withDefaults() BootstrapOptions {
	if o.Cluster == "" {
		o.Cluster = DefaultCluster
	}
	if o.XDSAddr == "" {
		o.XDSAddr = DefaultXDSAddr
	}
	if o.AuthzAddr == "" {
		o.AuthzAddr = DefaultAuthzAddr
	}
	if o.AdminAddr == "" {
		o.AdminAddr = DefaultAdminAddr
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	return o
}

// endpoints are the checked addresses of the options.
type endpoints struct {
	xds, authz []endpoint // one per mtlsgate replica
	admin      endpoint
}

// check validates the options (defaults applied) and returns the parsed
// addresses.
func (o BootstrapOptions) check() (eps endpoints, err error) {
	if err := checkName("NodeID", o.NodeID); err != nil {
		return eps, err
	}
	if err := checkName("Cluster", o.Cluster); err != nil {
		return eps, err
	}
	if err := o.checkDir(); err != nil {
		return eps, err
	}
	if o.MaxConnections < 1 {
		return eps, &OptionError{Field: "MaxConnections", Value: fmt.Sprint(o.MaxConnections), Reason: "must be at least 1"}
	}
	if o.MaxHeapBytes < 0 || (o.MaxHeapBytes > 0 && o.MaxHeapBytes < minHeap) {
		return eps, &OptionError{Field: "MaxHeapBytes", Value: fmt.Sprint(o.MaxHeapBytes), Reason: "must be 0 (no heap monitor) or at least 64 MiB"}
	}
	if !o.Plaintext {
		// The node's certificate names it: the names must be ones a
		// certificate can carry.
		if err := nodeid.CheckName("node id", o.NodeID); err != nil {
			return eps, &OptionError{Field: "NodeID", Value: o.NodeID, Reason: "with credentials, " + err.Error()}
		}
		if err := nodeid.CheckName("fleet", o.Cluster); err != nil {
			return eps, &OptionError{Field: "Cluster", Value: o.Cluster, Reason: "with credentials, " + err.Error()}
		}
	}
	if eps.xds, err = parseServerAddrs("XDSAddr", o.XDSAddr); err != nil {
		return eps, err
	}
	if eps.authz, err = parseServerAddrs("AuthzAddr", o.AuthzAddr); err != nil {
		return eps, err
	}
	eps.admin, err = parseAdminAddr(o.AdminAddr)
	return eps, err
}

// checkDir requires a credentials directory, absolute and clean, unless
// the bootstrap is plaintext, and none then.
func (o BootstrapOptions) checkDir() error {
	bad := func(reason string) error { return &OptionError{Field: "Dir", Value: o.Dir, Reason: reason} }
	switch {
	case o.Plaintext && o.Dir != "":
		return bad("a plaintext bootstrap has no credentials directory")
	case o.Plaintext:
		return nil
	case o.Dir == "":
		return bad("must not be empty: a node needs credentials unless the bootstrap is plaintext")
	case !filepath.IsAbs(o.Dir) || filepath.Clean(o.Dir) != o.Dir:
		return bad("must be an absolute, clean path")
	case strings.IndexFunc(o.Dir, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return bad("must not contain control characters")
	}
	return nil
}

// checkName refuses an empty name or one with spaces or control
// characters: node ids and clusters appear in logs and stats.
func checkName(field, v string) error {
	if v == "" {
		return &OptionError{Field: field, Value: v, Reason: "must not be empty"}
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return &OptionError{Field: field, Value: v, Reason: "must not contain spaces or control characters"}
	}
	return nil
}

// maxReplicas bounds the addresses of one server list.
const maxReplicas = 16

// parseServerAddrs checks a comma-separated list of addresses of one of
// mtlsgate's servers, one per replica: each as parseServerAddr, none twice.
func parseServerAddrs(field, s string) ([]endpoint, error) {
	items := strings.Split(s, ",")
	if len(items) > maxReplicas {
		return nil, &OptionError{Field: field, Value: s, Reason: fmt.Sprintf("more than %d addresses", maxReplicas)}
	}
	var out []endpoint
	seen := map[endpoint]bool{}
	for _, item := range items {
		e, err := parseServerAddr(field, strings.TrimSpace(item))
		if err != nil {
			return nil, err
		}
		if seen[e] {
			return nil, &OptionError{Field: field, Value: s, Reason: "an address is listed twice"}
		}
		seen[e] = true
		out = append(out, e)
	}
	return out, nil
}

// parseServerAddr checks the address of one of mtlsgate's servers (field
// names it): an IP address other than the unspecified one, or a DNS name.
func parseServerAddr(field, s string) (endpoint, error) {
	e, err := parseHostPort(field, s)
	if err != nil {
		return e, err
	}
	if !e.isIP && !isDNSName(e.host) {
		return e, &OptionError{Field: field, Value: s, Reason: "host is neither an IP address nor a DNS name"}
	}
	if e.isIP && netip.MustParseAddr(e.host).IsUnspecified() {
		return e, &OptionError{Field: field, Value: s,
			Reason: "host is the unspecified address; give an address Envoy can connect to, such as 127.0.0.1"}
	}
	return e, nil
}

// parseAdminAddr checks Envoy's admin address: Envoy binds it, so the host
// must be an IP address.
func parseAdminAddr(s string) (endpoint, error) {
	e, err := parseHostPort("AdminAddr", s)
	if err == nil && !e.isIP {
		err = &OptionError{Field: "AdminAddr", Value: s, Reason: "host must be an IP address (Envoy binds it)"}
	}
	return e, err
}

// parseHostPort splits host:port, checks the port and recognises IP
// addresses (IPv6 in brackets, without a zone).
func parseHostPort(field, s string) (endpoint, error) {
	bad := func(reason string) (endpoint, error) {
		return endpoint{}, &OptionError{Field: field, Value: s, Reason: reason}
	}
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		return bad("want host:port")
	}
	if host == "" {
		return bad("missing host")
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return bad("port must be a number from 1 to 65535")
	}
	e := endpoint{host: host, port: uint32(port)}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return bad("IPv6 zones are not supported")
		}
		e.host, e.isIP = ip.String(), true
	}
	return e, nil
}

// isDNSName reports whether s is a host name: dot-separated labels of
// letters, digits, '-' and '_' (1 to 63 bytes, no leading or trailing '-'),
// at most 253 bytes, the last label not all digits (so that a mistyped IP
// address is not taken for a name).
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if !isLabel(l) {
			return false
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// isLabel reports whether l is one DNS label.
func isLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, r := range l {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}
