package model

import (
	"reflect"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestLinksReusePreviousChecks: when the CAs change, a compilation trusts
// the previous one's answer for a pair of certificate objects it already
// checked, so an unchanged CA costs no signature check. A planted wrong
// answer shows it. When no CA changed, the links are the previous ones.
func TestLinksReusePreviousChecks(t *testing.T) {
	root := testpki.NewRoot(t, "Links Root", testpki.Options{})
	inter := root.Intermediate(t, "Links Intermediate", testpki.Options{})
	cas := []*pb.ClientCA{{Id: "i", BundlePem: string(inter.PEM())}, {Id: "r", BundlePem: string(root.PEM())}}
	first := Compile(store.NewState(1, cas, nil, nil), nil)
	interCert, rootCert := first.CAs["i"].Certs[0].X509, first.CAs["r"].Certs[0].X509
	if got := first.links[interCert]; len(got) != 1 || got[0] != rootCert {
		t.Fatalf("links = %v, want the root", got)
	}
	same := Compile(store.NewState(2, cas, nil, nil), first)
	if reflect.ValueOf(same.links).UnsafePointer() != reflect.ValueOf(first.links).UnsafePointer() || len(same.issuerOf) != 2 {
		t.Fatal("unchanged CAs: the links are not the previous ones")
	}
	first.checked[linkKey{interCert, rootCert}] = false
	other := &pb.ClientCA{Id: "o", BundlePem: string(testpki.NewRoot(t, "Links Other", testpki.Options{}).PEM())}
	second := Compile(store.NewState(3, append(cas, other), nil, nil), first)
	if len(second.links[interCert]) != 0 {
		t.Errorf("the previous compilation's answer was not reused")
	}
	if _, kept := second.checked[linkKey{interCert, rootCert}]; !kept {
		t.Error("the answer is not kept for the next compilation")
	}
}

// TestLinksAmong: a site's links are those between its own certificates.
func TestLinksAmong(t *testing.T) {
	root := testpki.NewRoot(t, "Among Root", testpki.Options{})
	inter := root.Intermediate(t, "Among Intermediate", testpki.Options{})
	cas := []*pb.ClientCA{{Id: "i", BundlePem: string(inter.PEM())}, {Id: "r", BundlePem: string(root.PEM())}}
	m := Compile(store.NewState(1, cas, nil, nil), nil)
	alone := m.links.among(m.CAs["i"].Certs)
	if len(alone) != 0 {
		t.Errorf("the intermediate alone has links %v", alone)
	}
	both := m.links.among(append(append([]*Cert{}, m.CAs["i"].Certs...), m.CAs["r"].Certs...))
	if len(both) != 1 || len(both[m.CAs["i"].Certs[0].X509]) != 1 {
		t.Errorf("with its root: %v", both)
	}
}
