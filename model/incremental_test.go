package model_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestIncrementalIsFresh: after any sequence of changes to CAs, CRLs and
// sites, the model compiled from the previous one says exactly what a
// model compiled from nothing says.
func TestIncrementalIsFresh(t *testing.T) {
	f := newFixture(t)
	roots := []*testpki.Cert{f.root, f.other}
	bundles := []*pb.ClientCA{f.cas[0], f.cas[1], f.cas[2],
		{Id: "ca-broken", BundlePem: "not a certificate"}}
	scopes := []testpki.CRLScope{{}, {CACerts: true}, {UserCerts: true}, {URIs: []string{"http://crl.example/1.crl"}}}
	var crlPool []*pb.CRL
	for i, r := range roots {
		for k, sc := range scopes {
			crlPool = append(crlPool, crlOf(t, fmt.Sprintf("crl-%d-%d", i, k), "ca-x", r, sc, int64(k+1)))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	cas, crls, sites := map[string]*pb.ClientCA{}, map[string]*pb.CRL{}, map[string]*pb.Site{}
	var m *model.Model
	for step := range 200 {
		switch rng.IntN(3) {
		case 0:
			toggle(rng, cas, bundles, func(c *pb.ClientCA) string { return c.Id })
		case 1:
			toggle(rng, crls, crlPool, func(c *pb.CRL) string { return c.Id })
		default:
			host := fmt.Sprintf("s%d.example.com", rng.IntN(6))
			ids := []string{bundles[rng.IntN(len(bundles))].Id}
			if rng.IntN(2) == 0 {
				ids = append(ids, bundles[rng.IntN(len(bundles))].Id)
			}
			s := site(t, host, slices.Compact(ids)...)
			if rng.IntN(5) == 0 {
				s.OriginUrl = "gopher://nope"
			}
			sites[host] = s
		}
		st := store.NewState(int64(step+1), slices.Collect(maps.Values(cas)), slices.Collect(maps.Values(sites)), slices.Collect(maps.Values(crls)))
		m = model.Compile(st, m)
		if got, want := describe(m), describe(model.Compile(st, nil)); got != want {
			t.Fatalf("step %d: incremental model\n%s\nfresh model\n%s", step, got, want)
		}
	}
}

// toggle adds a random item of pool to m, or removes it when present.
func toggle[T any](rng *rand.Rand, m map[string]T, pool []T, id func(T) string) {
	it := pool[rng.IntN(len(pool))]
	if _, ok := m[id(it)]; ok {
		delete(m, id(it))
	} else {
		m[id(it)] = it
	}
}

// describe renders what a model says: errors, each site's certificates,
// trust and links, and each issuer's CRLs.
func describe(m *model.Model) string {
	var b strings.Builder
	for _, ref := range slices.Sorted(maps.Keys(m.Errors)) {
		fmt.Fprintf(&b, "error %s: %v\n", ref, m.Errors[ref])
	}
	for _, s := range m.SiteList() {
		if s.Err != nil {
			continue
		}
		fmt.Fprintf(&b, "site %s: %d certs, trust %d closed=%v, %d linked\n", s.Host, len(s.Certs), len(s.Trust.Certs), s.Trust.Closed, len(s.Links))
		for _, k := range s.Trust.Keys {
			var ids []string
			for _, c := range m.Revocation(k) {
				ids = append(ids, c.Msg.GetId())
			}
			sole := ""
			if c := m.SoleCRL(k); c != nil {
				sole = c.Msg.GetId()
			}
			fmt.Fprintf(&b, "  issuer %v: crls %v sole %q\n", k, ids, sole)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.CRLs)) {
		fmt.Fprintf(&b, "crl %s in force\n", id)
	}
	return b.String()
}
