package model_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestIssuers: every issuer identity of an uploaded certificate has an
// Issuer with a certificate of it; the OCSP settings come from the first
// CA by id holding it that sets any, and follow a CA update.
func TestIssuers(t *testing.T) {
	f := newFixture(t)
	cas := []*pb.ClientCA{proto.Clone(f.cas[0]).(*pb.ClientCA), proto.Clone(f.cas[1]).(*pb.ClientCA), f.cas[2]}
	cas[1].OcspUrl, cas[1].OcspNonce = "http://ocsp.example/chain", true // ca-chain holds the root too
	m := model.Compile(store.NewState(1, cas, nil, nil), nil)
	root := m.Issuer(pki.IssuerKeyOf(f.root.Cert))
	if root == nil || !root.Cert.Equal(f.root.Cert) || root.OCSPURL != "http://ocsp.example/chain" || !root.OCSPNonce {
		t.Fatalf("root issuer %+v", root)
	}
	if inter := m.Issuer(pki.IssuerKeyOf(f.inter.Cert)); inter == nil || inter.OCSPURL != "http://ocsp.example/chain" {
		t.Fatalf("intermediate issuer %+v", inter)
	}
	if other := m.Issuer(pki.IssuerKeyOf(f.other.Cert)); other == nil || other.OCSPURL != "" || other.OCSPNonce {
		t.Fatalf("other issuer %+v", other)
	}
	cas[0], cas[1] = proto.Clone(cas[0]).(*pb.ClientCA), proto.Clone(cas[1]).(*pb.ClientCA)
	cas[0].OcspUrl = "http://ocsp.example/root"
	cas[1].OcspUrl, cas[1].OcspNonce = "", false
	m = model.Compile(store.NewState(2, cas, nil, nil), m)
	if root := m.Issuer(pki.IssuerKeyOf(f.root.Cert)); root.OCSPURL != "http://ocsp.example/root" || root.OCSPNonce {
		t.Fatalf("after the update: %+v", root)
	}
	if inter := m.Issuer(pki.IssuerKeyOf(f.inter.Cert)); inter.OCSPURL != "" {
		t.Fatalf("after the update: intermediate %+v", inter)
	}
	if m.Issuer(pki.IssuerKey{Name: "nobody"}) != nil {
		t.Fatal("an unknown identity has an issuer")
	}
}
