package authz_test

import (
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/authz/xfcc"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/originhdr"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

const (
	gatewayBy = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
	edgeBy    = "spiffe://example.org/edge"
)

// element is what an Envoy that verified c writes about it in XFCC,
// with Cert and Chain (leaf first, then chain) as asked.
func element(c *testpki.Cert, withCert bool, chain ...*testpki.Cert) xfcc.Element {
	e := xfcc.Element{Hash: pki.Fingerprint(c.Cert.Raw), Subject: c.Cert.Subject.String(), URI: []string{""}}
	if withCert {
		e.Cert = extract.EncodeNew(c.PEM())
	}
	if len(chain) > 0 {
		pem := c.PEM()
		for _, x := range chain {
			pem = append(pem, x.PEM()...)
		}
		e.Chain = extract.EncodeNew(pem)
	}
	return e
}

func by(e xfcc.Element, uris ...string) xfcc.Element { e.By = uris; return e }

func header(els ...xfcc.Element) map[string]string {
	return map[string]string{originhdr.XFCC: xfcc.Format(els)}
}

// xfccEnv has sites whose certificate comes from XFCC. Their only CA is
// the root: a leaf of the intermediate verifies only when the element's
// Chain brings the intermediate.
func xfccEnv(t *testing.T) *env {
	e := newEnv(t, authz.Options{DecisionLog: authz.LogAll})
	p := e.pki
	now := time.Now()
	e.ca("bundle", p.root, p.inter) // so that the intermediate's CRL is in force
	root := e.ca("root-only", p.root)
	e.crl(p.inter, now.Add(-time.Hour), now.Add(time.Hour), p.revoked.Cert.SerialNumber)
	src := pb.CertificateSource_CERTIFICATE_SOURCE_XFCC
	e.site("gw.example.com", &pb.ClientCertSettings{Mode: enforce, CertificateSource: src}, root)
	e.site("open.example.com", &pb.ClientCertSettings{Mode: permissive, CertificateSource: src}, root)
	e.site("by.example.com", &pb.ClientCertSettings{Mode: enforce, CertificateSource: src,
		Xfcc: &pb.XFCCSettings{TrustedBy: []string{gatewayBy}}}, root)
	e.site("behind.example.com", &pb.ClientCertSettings{Mode: enforce, CertificateSource: src,
		Xfcc: &pb.XFCCSettings{Hop: 2, TrustedBy: []string{edgeBy}, TrustedPeers: []string{"10.0.0.0/8"}}}, root)
	e.site("hash.example.com", &pb.ClientCertSettings{Mode: enforce, CertificateSource: src, Pins: []*pb.Pin{
		{Sha256Fingerprint: pki.Fingerprint(p.untrusted.Cert.Raw), Identity: "mallory-device"}}}, root)
	e.site("forward.example.com", &pb.ClientCertSettings{Mode: enforce, CertificateSource: src,
		Xfcc: &pb.XFCCSettings{Forward: true}}, root)
	e.site("peer.example.com", &pb.ClientCertSettings{Mode: enforce}, root)
	e.site("append.example.com", &pb.ClientCertSettings{Mode: enforce, CertificateSource: src,
		Xfcc: &pb.XFCCSettings{AllowEarlierElements: true}}, root)
	e.waitLoaded()
	return e
}

// TestXFCC: the certificate of an XFCC site is the one the trusted element
// carries, and nothing a client could have written.
func TestXFCC(t *testing.T) {
	e := xfccEnv(t)
	p := e.pki
	good, full := element(p.good, true, p.inter), element(p.good, true, p.inter, p.root)
	noChain := element(p.good, true)
	mismatch := element(p.good, true, p.inter)
	mismatch.Hash = pki.Fingerprint(p.untrusted.Cert.Raw)
	wrongFirst := element(p.good, false, p.inter)
	wrongFirst.Cert = extract.EncodeNew(p.untrusted.PEM())
	ok := want{allow: true, verify: "SUCCESS"}
	noHash := element(p.good, true, p.inter)
	noHash.Hash = ""
	// What Envoy writes for mallory's certificate when a URI SAN of it
	// holds a comma or ";": Envoy does not escape URI values.
	mallory := element(p.untrusted, true)
	mallory.URI = []string{"spiffe://x/y,By=" + gatewayBy + ";Hash=" + good.Hash + ";Cert=" + good.Cert}
	injected := xfcc.Format([]xfcc.Element{mallory})
	injected = strings.ReplaceAll(injected, `URI="spiffe://x/y,By=`, "URI=spiffe://x/y,By=")
	injected = strings.TrimSuffix(injected, `"`)
	mallory.URI = []string{"spiffe://x/y;By=" + gatewayBy}
	byInjected := strings.ReplaceAll(xfcc.Format([]xfcc.Element{mallory}), `"spiffe://x/y;By=`+gatewayBy+`"`, "spiffe://x/y;By="+gatewayBy)
	// A sub-CA the root limited to serverAuth, and a client leaf of it.
	serverInter := p.root.Intermediate(t, "Server Issuing", testpki.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	serverLeaf := serverInter.Leaf(t, "sneaky", testpki.Options{})
	for _, tc := range []struct {
		name string
		r    req
		want want
	}{
		{"cert and chain", req{host: "gw.example.com", headers: header(good)}, ok},
		{"chain to the root", req{host: "gw.example.com", headers: header(full)}, ok},
		{"chain only", req{host: "gw.example.com", headers: header(element(p.good, false, p.inter))}, ok},
		{"no chain: the intermediate is missing", req{host: "gw.example.com", headers: header(noChain)}, want{status: 403, reason: "untrusted"}},
		{"no header", req{host: "gw.example.com"}, want{status: 403, reason: "no_certificate"}},
		{"source.certificate is not read", req{host: "gw.example.com", cert: p.good}, want{status: 403, reason: "no_certificate"}},
		{"revoked through the chain", req{host: "gw.example.com", headers: header(element(p.revoked, true, p.inter))}, want{status: 403, reason: "revoked"}},
		{"hash of another certificate", req{host: "gw.example.com", headers: header(mismatch)}, want{status: 403, reason: "malformed"}},
		{"Cert is not Chain's first", req{host: "gw.example.com", headers: header(wrongFirst)}, want{status: 403, reason: "malformed"}},
		{"malformed header", req{host: "gw.example.com", headers: map[string]string{originhdr.XFCC: `Cert="unterminated`}}, want{status: 403, reason: "malformed"}},
		{"more elements than hops", req{host: "gw.example.com", headers: header(element(p.untrusted, true), good)}, want{status: 403, reason: "malformed"}},
		{"earlier elements allowed: the client's is ignored", req{host: "append.example.com", headers: header(good, element(p.untrusted, true))}, want{status: 403, reason: "untrusted"}},
		{"earlier elements allowed: the gateway's is read", req{host: "append.example.com", headers: header(element(p.untrusted, true), good)}, ok},
		{"no Hash", req{host: "gw.example.com", headers: header(noHash)}, want{status: 403, reason: "malformed"}},
		{"a SAN that splits the element", req{host: "gw.example.com", headers: map[string]string{originhdr.XFCC: injected}}, want{status: 403, reason: "malformed"}},
		{"a SAN that adds a By", req{host: "by.example.com", headers: map[string]string{originhdr.XFCC: byInjected}}, want{status: 403, reason: "malformed"}},
		{"an intermediate not for clientAuth", req{host: "gw.example.com", headers: header(element(serverLeaf, true, serverInter))}, want{status: 403, reason: "untrusted"}},
		{"permissive: none", req{host: "open.example.com"}, want{allow: true, verify: "NONE"}},
		{"permissive: untrusted", req{host: "open.example.com", headers: header(noChain)}, want{allow: true, verify: "FAILED:untrusted"}},
		{"By trusted", req{host: "by.example.com", headers: header(by(good, "spiffe://other", gatewayBy))}, ok},
		{"By not trusted", req{host: "by.example.com", headers: header(by(good, "spiffe://other"))}, want{status: 403, reason: "no_certificate"}},
		{"By absent", req{host: "by.example.com", headers: header(good)}, want{status: 403, reason: "no_certificate"}},
		{"By trusted, not last", req{host: "by.example.com", headers: header(by(good, gatewayBy), by(element(p.untrusted, true), "spiffe://x"))}, want{status: 403, reason: "malformed"}},
		{"hop 2 from a trusted peer", req{host: "behind.example.com", peer: "10.1.2.3", headers: header(by(good, edgeBy), by(element(p.viaRoot, true), "spiffe://sidecar"))}, ok},
		{"hop 2, mapped address", req{host: "behind.example.com", peer: "::ffff:10.1.2.3", headers: header(by(good, edgeBy), element(p.viaRoot, true))}, ok},
		{"hop 2 from another peer", req{host: "behind.example.com", peer: "192.0.2.7", headers: header(by(good, edgeBy), element(p.viaRoot, true))}, want{status: 403, reason: "no_certificate"}},
		{"hop 2 without a peer address", req{host: "behind.example.com", headers: header(by(good, edgeBy), element(p.viaRoot, true))}, want{status: 403, reason: "no_certificate"}},
		{"hop 2, one element", req{host: "behind.example.com", peer: "10.1.2.3", headers: header(by(good, edgeBy))}, want{status: 403, reason: "no_certificate"}},
		{"hash only, pinned", req{host: "hash.example.com", headers: header(element(p.untrusted, false))}, ok},
		{"hash only, not pinned", req{host: "hash.example.com", headers: header(element(p.good, false))}, want{status: 403, reason: "untrusted"}},
		{"hash only, pins elsewhere", req{host: "gw.example.com", headers: header(element(p.good, false))}, want{status: 403, reason: "untrusted"}},
		{"peer site reads source.certificate", req{host: "peer.example.com", cert: p.viaRoot, headers: header(good)}, ok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertResponse(t, e.check(tc.r), tc.want)
		})
	}
	// Only a site that forwards it lets the header reach the origin.
	resp := e.check(req{host: "forward.example.com", headers: header(good)})
	if ok := resp.GetOkResponse(); ok == nil || slices.Contains(ok.GetHeadersToRemove(), originhdr.XFCC) {
		t.Fatalf("forwarding site: %v", resp)
	}
	resp = e.check(req{host: "gw.example.com", headers: header(good)})
	if ok := resp.GetOkResponse(); ok == nil || !slices.Contains(ok.GetHeadersToRemove(), originhdr.XFCC) {
		t.Fatalf("XFCC kept: %v", resp)
	}
}
