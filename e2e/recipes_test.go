package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/authz/xfcc"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/nodeid"
)

// The recipes of docs/meshes.md, from mtlsgate's side: Check requests
// shaped as Istio's ingress gateway, Envoy Gateway and a plain Envoy with
// deploy/envoy's filter send them, to the real binary configured through
// its CLI, over gRPC and TLS with a node certificate.

const xfccHeader = "x-forwarded-client-cert"

// gatewayElement is the XFCC element an Envoy gateway adds for the
// certificate its client presented: Hash always, then what the gateway is
// told to add (Istio: Cert, Subject, URI, DNS; Envoy Gateway's recipe:
// Cert and Chain). By only when the gateway's own certificate has a URI
// SAN, which a site certificate has not.
func gatewayElement(leaf *testpki.Cert, chain []*testpki.Cert, subject bool) xfcc.Element {
	sum := sha256.Sum256(leaf.Cert.Raw)
	e := xfcc.Element{Hash: hex.EncodeToString(sum[:]), Cert: extract.EncodeNew(leaf.PEM())}
	if chain != nil {
		e.Chain = extract.EncodeNew(testpki.Bundle(append([]*testpki.Cert{leaf}, chain...)...))
	}
	if subject {
		e.Subject = leaf.Cert.Subject.String()
		e.DNS = leaf.Cert.DNSNames
	}
	return e
}

// gatewayRequest is a Check as an Envoy gateway's ext_authz filter sends
// it without include_peer_certificate and include_tls_session: the client's
// address (the gateway uses the remote address), no certificate, no TLS
// session, every request header.
func gatewayRequest(host, header string, ext map[string]string) *authv3.CheckRequest {
	h := map[string]string{
		":authority": host, ":method": "GET", ":path": "/orders?id=7", ":scheme": "https",
		"user-agent": "curl/8.9.1", "accept": "*/*",
		"x-request-id":             "1f0e4c52-8d3a-4f3e-9a57-3b1b8f9d2a11",
		"x-forwarded-for":          "203.0.113.7",
		"x-forwarded-proto":        "https",
		"x-envoy-external-address": "203.0.113.7",
	}
	if header != "" {
		h[xfccHeader] = header
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}}}}},
		Destination: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "10.244.1.9", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8443}}}}},
		ContextExtensions: ext,
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: h["x-request-id"], Method: "GET", Host: host, Path: "/orders?id=7", Scheme: "https",
			Protocol: "HTTP/1.1", Headers: h}},
	}}
}

// answer is what a Check answered, as the recipe cares.
type answer struct {
	status  int // 200 allowed, else the denial's status
	verify  string
	fp      string
	removed []string
}

func (a answer) hasRemovedXFCC() bool { return slices.Contains(a.removed, xfccHeader) }

func fingerprint(c *testpki.Cert) string {
	sum := sha256.Sum256(c.Cert.Raw)
	return hex.EncodeToString(sum[:])
}

// recipeSites is a running mtlsgate with the three recipes' sites, all
// enforcing, trusting one root: Istio's (xfcc, found by Host), Envoy
// Gateway's (xfcc, named by the site extension) and a plain Envoy's
// (peer). It returns a Check function over a node's connection.
func recipeSites(t *testing.T, root *testpki.Cert) func(*authv3.CheckRequest) answer {
	t.Helper()
	dir := t.TempDir()
	in := serve(t, filepath.Join(dir, "data"))
	caID := in.cli(t, "ca", "add", "--name", "recipes", writeFile(t, dir, "ca.pem", root.PEM()), "-o", "id")
	for _, s := range []struct{ host, source string }{
		{"istio.example.com", "xfcc"}, {"eg.example.com", "xfcc"}, {"peer.example.com", "peer"},
	} {
		srv := root.Server(t, s.host)
		in.cli(t, "site", "put", s.host, "--cert", writeFile(t, dir, s.host+".pem", srv.PEM()),
			"--key", writeFile(t, dir, s.host+".key", srv.KeyPEM()), "--origin", "http://127.0.0.1:8080", "--mode", "enforce")
		in.cli(t, "site", "assign", s.host, caID)
		in.cli(t, "site", "set", s.host, "certificate_source="+s.source, "xfcc.hop=1")
	}
	// The gateway's node: `mtlsgate envoy bootstrap --cluster istio`.
	conn := in.dialNode(t, in.authz, in.nodeCreds(t, in.issueNode(t, nodeid.Identity{Fleet: "istio", Node: "istio-ingressgateway"})))
	client := authv3.NewAuthorizationClient(conn)
	return func(r *authv3.CheckRequest) answer {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if d := resp.GetDeniedResponse(); d != nil {
			return answer{status: int(d.GetStatus().GetCode())}
		}
		a := answer{status: 200, removed: resp.GetOkResponse().GetHeadersToRemove()}
		for _, h := range resp.GetOkResponse().GetHeaders() {
			switch h.GetHeader().GetKey() {
			case "x-client-cert-verify":
				a.verify = h.GetHeader().GetValue()
			case "x-client-cert-fingerprint-sha256":
				a.fp = h.GetHeader().GetValue()
			}
		}
		return a
	}
}

// TestRecipeChecks sends each platform's Check requests.
func TestRecipeChecks(t *testing.T) {
	root := testpki.NewRoot(t, "Recipe Root CA", testpki.Options{})
	issuing := root.Intermediate(t, "Recipe Issuing CA", testpki.Options{})
	alice := root.Leaf(t, "alice", testpki.Options{})
	bob := issuing.Leaf(t, "bob", testpki.Options{})
	mallory := testpki.NewRoot(t, "Mallory CA", testpki.Options{}).Leaf(t, "mallory", testpki.Options{})
	check := recipeSites(t, root)

	istio := func(es ...xfcc.Element) *authv3.CheckRequest {
		h := ""
		if len(es) > 0 {
			h = xfcc.Format(es)
		}
		return gatewayRequest("istio.example.com", h, nil)
	}
	eg := func(es ...xfcc.Element) *authv3.CheckRequest {
		return gatewayRequest("eg.example.com", xfcc.Format(es), map[string]string{"site": "eg.example.com"})
	}
	// The configuration reaches Check within a second.
	eventually(t, 2*time.Second, "istio site configured", func() bool {
		return check(istio(gatewayElement(alice, nil, true))).status == 200
	})
	cases := []struct {
		name   string
		req    *authv3.CheckRequest
		status int
		fp     string
	}{
		// Istio: Hash, Cert, Subject, URI, DNS; no Chain by default.
		{"istio: alice", istio(gatewayElement(alice, nil, true)), 200, fingerprint(alice)},
		{"istio: no certificate (header removed by the gateway)", istio(), 403, ""},
		// SANITIZE_SET writes exactly one element: two are a forgery
		// (a SAN that split the gateway's element), whatever the order.
		{"istio: a forged element before the gateway's is refused",
			istio(gatewayElement(mallory, nil, true), gatewayElement(alice, nil, true)), 403, ""},
		{"istio: a forged element of a trusted name does not replace the gateway's",
			istio(gatewayElement(alice, nil, true), gatewayElement(mallory, nil, true)), 403, ""},
		{"istio: an intermediate's leaf needs the EnvoyFilter's Chain", istio(gatewayElement(bob, nil, true)), 403, ""},
		{"istio + EnvoyFilter: Chain", istio(gatewayElement(bob, []*testpki.Cert{issuing}, true)), 200, fingerprint(bob)},
		// Envoy Gateway: Hash, Cert, Chain; the route names the site.
		{"envoy gateway: bob with his chain", eg(gatewayElement(bob, []*testpki.Cert{issuing}, false)), 200, fingerprint(bob)},
		{"envoy gateway: forged element first is refused",
			eg(gatewayElement(mallory, nil, false), gatewayElement(bob, []*testpki.Cert{issuing}, false)), 403, ""},
		{"envoy gateway: mallory", eg(gatewayElement(mallory, nil, false)), 403, ""},
	}
	for _, c := range cases {
		a := check(c.req)
		if a.status != c.status || a.fp != c.fp {
			t.Errorf("%s: status %d fingerprint %q, want %d %q", c.name, a.status, a.fp, c.status, c.fp)
		}
		if a.status == 200 && (a.verify != "SUCCESS" || !a.hasRemovedXFCC()) {
			t.Errorf("%s: verify %q, XFCC removed: %v; want SUCCESS and removed", c.name, a.verify, a.hasRemovedXFCC())
		}
	}
	checkPlainEnvoy(t, check, alice)
}

// checkPlainEnvoy: deploy/envoy's filter sends the peer certificate, the
// SNI and the site; a client's own XFCC is removed by its SANITIZE before
// the check, and would be ignored by a peer site anyway.
func checkPlainEnvoy(t *testing.T, check func(*authv3.CheckRequest) answer, alice *testpki.Cert) {
	t.Helper()
	r := func(cert *testpki.Cert, header string) *authv3.CheckRequest {
		req := gatewayRequest("peer.example.com", header, map[string]string{"site": "peer.example.com"})
		req.Attributes.TlsSession = &authv3.AttributeContext_TLSSession{Sni: "peer.example.com"}
		if cert != nil {
			req.Attributes.Source.Certificate = extract.EncodeNew(cert.PEM())
		}
		return req
	}
	a := check(r(alice, ""))
	if a.status != 200 || a.verify != "SUCCESS" || a.fp != fingerprint(alice) || !a.hasRemovedXFCC() {
		t.Errorf("plain Envoy, alice: %+v", a)
	}
	if a := check(r(nil, xfcc.Format([]xfcc.Element{gatewayElement(alice, nil, true)}))); a.status != 403 {
		t.Errorf("plain Envoy: a peer site took a certificate from XFCC: %+v", a)
	}
}
