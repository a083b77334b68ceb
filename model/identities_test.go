package model_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// bound records c as bound to an identity, as BindCertificate would.
func bound(c *testpki.Cert) *pb.BoundCertificate {
	return &pb.BoundCertificate{Sha256Fingerprint: pki.Fingerprint(c.Cert.Raw), CertificatePem: string(c.PEM()), SelfSigned: store.SelfSigned(c.Cert)}
}

// TestCompileIdentities: bound fingerprints and enabled flags of every
// identity, the self-signed certificates of the enabled ones only; the
// same records give the same Identities, a change elsewhere reuses the
// parsed certificates; sites admitting identities get them as anchors
// (recompiled when identities change), the others are kept as they were.
func TestCompileIdentities(t *testing.T) {
	f := newFixture(t)
	ann := testpki.SelfSigned(t, "ann", testpki.Options{})
	bob := testpki.SelfSigned(t, "bob", testpki.Options{})
	issued := f.root.Leaf(t, "carl", testpki.Options{})
	ids := []*pb.Identity{
		{Name: "ann", Enabled: proto.Bool(true), Certificates: []*pb.BoundCertificate{bound(ann), bound(issued)}},
		{Name: "bob", Enabled: proto.Bool(false), Certificates: []*pb.BoundCertificate{bound(bob)}},
	}
	caOnly := site(t, "a.example.com", f.cas[0].GetId())
	all := site(t, "b.example.com")
	all.Settings.IdentityAdmission = pb.IdentityAdmission_IDENTITY_ADMISSION_ALL
	base := store.NewState(1, f.cas, []*pb.Site{caOnly, all}, nil)
	m1 := model.Compile(base.WithIdentities(ids), nil)
	got := m1.Identities
	if got.Bound[pki.Fingerprint(issued.Cert.Raw)] != "ann" || got.Bound[pki.Fingerprint(bob.Cert.Raw)] != "bob" {
		t.Errorf("bound: %v", got.Bound)
	}
	if !got.Enabled["ann"] || got.Enabled["bob"] || len(got.SelfSigned["ann"]) != 1 || len(got.SelfSigned["bob"]) != 0 {
		t.Errorf("enabled %v, self-signed %v", got.Enabled, got.SelfSigned)
	}
	if s := m1.Site("b.example.com"); len(s.Trust.Certs) != 1 || s.PKILess[pki.Fingerprint(ann.Cert.Raw)] != "ann" {
		t.Errorf("site admitting all: trust %d, pkiless %v", len(s.Trust.Certs), s.PKILess)
	}
	if s := m1.Site("a.example.com"); s.PKILess != nil {
		t.Errorf("CA-only site got self-signed anchors: %v", s.PKILess)
	}
	if again := model.Compile(m1.State, m1); again.Identities != got || again.Site("b.example.com") != m1.Site("b.example.com") {
		t.Error("the same records compiled anew")
	}
	// Enable bob: a new Identities reusing ann's parsed certificate; the
	// admitting site is recompiled with both, the CA-only one kept.
	ids[1] = &pb.Identity{Name: "bob", Enabled: proto.Bool(true), Certificates: ids[1].Certificates}
	m2 := model.Compile(m1.State.WithIdentities(ids), m1)
	if m2.Identities == got || m2.Identities.SelfSigned["ann"][0] != got.SelfSigned["ann"][0] {
		t.Error("ann's certificate was parsed again (or nothing was recompiled)")
	}
	if s := m2.Site("b.example.com"); len(s.Trust.Certs) != 2 {
		t.Errorf("after enabling bob: %d anchors", len(s.Trust.Certs))
	}
	if m2.Site("a.example.com") != m1.Site("a.example.com") {
		t.Error("the CA-only site was recompiled")
	}
}
