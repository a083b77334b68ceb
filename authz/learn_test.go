package authz_test

import (
	"sync"
	"testing"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestLearnDistributionPoints: the distribution points of a client
// certificate are offered once, when its chain to an uploaded CA is
// verified (a cache miss), with its issuer; never for a hit, for an
// untrusted certificate, or for one without distribution points.
func TestLearnDistributionPoints(t *testing.T) {
	type offered struct {
		urls   []string
		issuer pki.IssuerKey
		fp     string
	}
	var mu sync.Mutex
	var got []offered
	e := newEnv(t, authz.Options{LearnDistributionPoints: func(urls []string, issuer pki.IssuerKey, fp string) {
		mu.Lock()
		got = append(got, offered{urls, issuer, fp})
		mu.Unlock()
	}})
	p := e.pki
	withDP := p.inter.Leaf(t, "dp", testpki.Options{CRLDPs: []string{"http://pki.example/issuing.crl"}})
	strangerDP := p.other.Leaf(t, "stranger", testpki.Options{CRLDPs: []string{"http://evil.example/x.crl"}})
	e.site("learn.example.com", &pb.ClientCertSettings{Mode: enforce}, e.ca("chain", p.root, p.inter))
	e.waitLoaded()
	for _, c := range []*testpki.Cert{withDP, withDP, strangerDP, p.good} {
		e.check(req{ext: "learn.example.com", sni: "learn.example.com", host: "learn.example.com", cert: c})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("offered %d times, want once: %+v", len(got), got)
	}
	if g := got[0]; len(g.urls) != 1 || g.urls[0] != "http://pki.example/issuing.crl" ||
		g.issuer != pki.IssuerKeyOf(p.inter.Cert) || g.fp != pki.Fingerprint(withDP.Cert.Raw) {
		t.Fatalf("offered %+v", g)
	}
}
