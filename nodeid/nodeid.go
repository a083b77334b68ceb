// Package nodeid names the peers of mtlsgate's authenticated channels in
// the certificates its internal CA issues: an Envoy node by its fleet and
// node id, and mtlsgate itself by one fixed name. It also reads a node's
// name back from a verified TLS peer.
//
// A node certificate carries exactly one URI SAN,
// spiffe://mtlsgate/fleet/<fleet>/node/<node>, where fleet is Envoy's
// node.cluster and node is its node.id. The names are restricted to URI
// path characters that need no escaping, so that one name has exactly one
// spelling in a certificate, a log line and a metric label.
package nodeid

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// ServerURI is the URI SAN of every serving certificate mtlsgate issues for
// its own listeners (admin, ext_authz, xDS). Envoy and the CLI match it
// exactly when they verify mtlsgate, whatever address they dial.
const ServerURI = "spiffe://mtlsgate/server"

// uriPrefix starts every node URI.
const uriPrefix = "spiffe://mtlsgate/fleet/"

// MaxNameLen bounds a fleet name and a node id.
const MaxNameLen = 128

// ErrNoIdentity means a peer presented no verified node certificate.
var ErrNoIdentity = errors.New("no verified node certificate")

// Identity is who an Envoy node is.
type Identity struct {
	// Fleet is Envoy's node.cluster: the group of nodes that serve the
	// same sites.
	Fleet string
	// Node is Envoy's node.id.
	Node string
}

// Validate checks both names.
func (id Identity) Validate() error {
	if err := CheckName("fleet", id.Fleet); err != nil {
		return err
	}
	return CheckName("node id", id.Node)
}

// URI is the SAN that names id in its certificate.
func (id Identity) URI() string { return uriPrefix + id.Fleet + "/node/" + id.Node }

// String is "<fleet>/<node>", for logs.
func (id Identity) String() string { return id.Fleet + "/" + id.Node }

// CheckName refuses a fleet or node name that is empty, longer than
// MaxNameLen, "." or "..", or holds a character other than ASCII letters,
// digits and "._~-". what names the field in the error.
func CheckName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s: must not be empty", what)
	case len(s) > MaxNameLen:
		return fmt.Errorf("%s: %d characters, more than %d", what, len(s), MaxNameLen)
	case s == "." || s == "..":
		return fmt.Errorf("%s: %q is not a name", what, s)
	}
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			return fmt.Errorf("%s: %q has %q at offset %d (allowed: letters, digits and ._~-)", what, printable(s), s[i], i)
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '~' || c == '-'
}

// printable bounds and cleans s for an error message.
func printable(s string) string {
	if len(s) > MaxNameLen {
		s = s[:MaxNameLen] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// Parse reads an Identity from a node URI.
func Parse(uri string) (Identity, error) {
	rest, ok := strings.CutPrefix(uri, uriPrefix)
	if !ok {
		return Identity{}, fmt.Errorf("nodeid: %q is not a node URI (want %s<fleet>/node/<node>)", printable(uri), uriPrefix)
	}
	fleet, node, ok := strings.Cut(rest, "/node/")
	if !ok {
		return Identity{}, fmt.Errorf("nodeid: %q is not a node URI (want %s<fleet>/node/<node>)", printable(uri), uriPrefix)
	}
	id := Identity{Fleet: fleet, Node: node}
	if err := id.Validate(); err != nil {
		return Identity{}, fmt.Errorf("nodeid: %w", err)
	}
	return id, nil
}

// FromCertificate reads the Identity of a node certificate: it must carry
// exactly one URI SAN, a node URI. The certificate is not verified here.
func FromCertificate(c *x509.Certificate) (Identity, error) {
	if c == nil {
		return Identity{}, ErrNoIdentity
	}
	if len(c.URIs) != 1 {
		return Identity{}, fmt.Errorf("%w: certificate %s has %d URI SANs, want exactly one node URI", ErrNoIdentity, c.Subject, len(c.URIs))
	}
	id, err := Parse(c.URIs[0].String())
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrNoIdentity, err)
	}
	return id, nil
}

// FromPeer reads the Identity of a gRPC call's peer from its verified TLS
// chain. It fails with ErrNoIdentity (wrapped) when the connection is not
// TLS or the client presented no certificate that verified.
func FromPeer(ctx context.Context) (Identity, *x509.Certificate, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Identity{}, nil, fmt.Errorf("%w: no peer", ErrNoIdentity)
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return Identity{}, nil, fmt.Errorf("%w: the connection is not TLS", ErrNoIdentity)
	}
	chains := info.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return Identity{}, nil, fmt.Errorf("%w: no verified client certificate", ErrNoIdentity)
	}
	leaf := chains[0][0]
	id, err := FromCertificate(leaf)
	if err != nil {
		return Identity{}, nil, err
	}
	return id, leaf, nil
}
