package store_test

import (
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/store"
)

// TestRefs: object references keep the form audit consumers read.
func TestRefs(t *testing.T) {
	for got, want := range map[store.Ref]string{
		store.SiteRef("*.example.com"):   "site/*.example.com",
		store.CARef("ca-1"):              "ca/ca-1",
		store.CRLRef("crl-1"):            "crl/crl-1",
		store.TokenRef("tok-1"):          "token/tok-1",
		store.NodeRef("eu", "edge-1"):    "node/eu/edge-1",
		store.NodeCertificateRef("0A1B"): "node-cert/0A1B",
		store.InternalCARef:              "internal-ca",
		store.ExpiredNodesRef(time.Date(2026, 12, 6, 5, 0, 0, 0, time.FixedZone("x", 3600))): "node-certs/expired-before-2026-12-06T04:00:00Z",
	} {
		if got.String() != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}
