package xfcc_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/authz/extract"
	"github.com/mtlsgate/mtlsgate/authz/xfcc"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestParseEnvoyLayouts: headers laid out as Envoy writes them, for each
// forward_client_cert detail, several elements (APPEND_FORWARD), and as
// Istio's and Envoy Gateway's gateways configure them.
func TestParseEnvoyLayouts(t *testing.T) {
	root := testpki.NewRoot(t, "XFCC Root", testpki.Options{})
	leaf := root.Leaf(t, "alice", testpki.Options{DNS: []string{"alice.example.com", "a.example.com"}, URIs: []string{"spiffe://example.org/alice"}})
	sum := sha256.Sum256(leaf.Cert.Raw)
	hash := hex.EncodeToString(sum[:])
	cert := extract.EncodeNew(leaf.PEM())
	chain := extract.EncodeNew(append(leaf.PEM(), root.PEM()...))
	cases := []struct {
		name, header string
		want         []xfcc.Element
	}{
		{"hash only", "Hash=" + hash, []xfcc.Element{{Hash: hash}}},
		{"every detail (SANITIZE_SET)",
			"By=spiffe://example.org/gateway;Hash=" + hash + `;Cert="` + cert + `";Chain="` + chain +
				`";Subject="CN=alice,O=mtlsgate test";URI=spiffe://example.org/alice;DNS=alice.example.com;DNS=a.example.com`,
			[]xfcc.Element{{By: []string{"spiffe://example.org/gateway"}, Hash: hash, Cert: cert, Chain: chain,
				Subject: "CN=alice,O=mtlsgate test", URI: []string{"spiffe://example.org/alice"}, DNS: []string{"alice.example.com", "a.example.com"}}}},
		{"two hops (APPEND_FORWARD), no URI SAN",
			"By=spiffe://example.org/edge;Hash=" + hash + `;Subject="";URI=,By=spiffe://example.org/gateway;Hash=` + hash + `;Subject="CN=edge"`,
			[]xfcc.Element{{By: []string{"spiffe://example.org/edge"}, Hash: hash}, {By: []string{"spiffe://example.org/gateway"}, Hash: hash, Subject: "CN=edge"}}},
		{"Istio ingress gateway", "By=spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account;Hash=" + hash +
			`;Subject="CN=alice\, Jr.,O=Example \"Corp\""` + ";URI=;DNS=alice.example.com",
			[]xfcc.Element{{By: []string{"spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"}, Hash: hash,
				Subject: `CN=alice\, Jr.,O=Example \"Corp\"`, DNS: []string{"alice.example.com"}}}},
		{"two By URIs, keys in any case, whitespace around separators, unknown keys",
			"by=spiffe://a ; BY=spiffe://b;hash=" + hash + ` ; X-Extra=1;Issuer="CN=XFCC Root" , Hash=` + hash,
			[]xfcc.Element{{By: []string{"spiffe://a", "spiffe://b"}, Hash: hash, Issuer: "CN=XFCC Root"}, {Hash: hash}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := xfcc.Parse(tc.header)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse:\n got %+v %v\nwant %+v", got, err, tc.want)
			}
			again, err := xfcc.Parse(xfcc.Format(got))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("Format does not read back: %q: %+v %v", xfcc.Format(got), again, err)
			}
		})
	}
	// What Cert and Chain carry is the client's certificate, as Envoy's
	// source.certificate does.
	els, _ := xfcc.Parse(cases[1].header)
	if der, err := extract.LeafDER(els[0].Cert); err != nil || !reflect.DeepEqual(der, leaf.Cert.Raw) {
		t.Fatalf("Cert: %v", err)
	}
}

// TestParseRefuses: whatever does not follow the format is refused with
// an error that says what, and nothing is returned.
func TestParseRefuses(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for _, tc := range []struct{ name, header, says string }{
		{"empty", "", "a key was expected"},
		{"empty element", "Hash=" + hash + ",,Hash=" + hash, "a key was expected"},
		{"no =", "Hash", `no "="`},
		{"unterminated quote", `Subject="CN=a`, "unterminated"},
		{"quote escaped at the end", `Subject="CN=a\"`, "unterminated"},
		{"quote inside an unquoted value", `By=a"b`, "double quote"},
		{"junk after a quoted value", `Subject="CN=a"x`, "after a value"},
		{"control character", "Hash=" + hash + "\r\nX: y", "control character"},
		{"NUL", "By=a\x00", "control character"},
		{"uppercase hash", "Hash=" + strings.ToUpper(hash), "Hash value is not"},
		{"short hash", "Hash=abc", "Hash value is not"},
		{"two hashes in one element", "Hash=" + hash + ";Hash=" + hash, "Hash twice"},
		{"two certs", `Cert="a";Cert="b"`, "Cert twice"},
		{"too long", "By=" + strings.Repeat("a", xfcc.MaxLen), "bytes"},
		{"too many elements", strings.Repeat("By=a,", xfcc.MaxElements) + "By=a", "elements"},
		{"too many pairs", strings.Repeat("DNS=a;", xfcc.MaxPairs) + "DNS=a", "pairs"},
		{"space inside a key", "B y=a", `no "="`},
		{"a key of other bytes", "B/y=a", `no "="`},
		// A URI SAN "spiffe://x;By=spiffe://gw", written unescaped by
		// Envoy, would otherwise add a By to Envoy's own element.
		{"By after another key", "By=spiffe://edge;Hash=" + hash + ";URI=spiffe://x;By=spiffe://gw", "By after another key"},
		{"By after an empty URI", "Hash=" + hash + ";URI=;by=spiffe://gw", "By after another key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := xfcc.Parse(tc.header)
			if !errors.Is(err, xfcc.ErrMalformed) || !strings.Contains(err.Error(), tc.says) || got != nil {
				t.Fatalf("%+v, %v; want ErrMalformed saying %q", got, err, tc.says)
			}
		})
	}
}
