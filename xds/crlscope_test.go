package xds_test

import (
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestReviewFinding2_SplitRevocationStaysInExtAuthz: Envoy gets an
// issuer's CRL only when that one CRL covers every certificate of the
// issuer. With an ARL beside the end-entity CRL, a CRL limited to one
// kind of certificate, or a partition, Envoy would hold no CRL for some
// certificates and fail their handshakes (or, given only the ARL, check
// users against nothing): ext_authz alone checks them.
func TestReviewFinding2_SplitRevocationStaysInExtAuthz(t *testing.T) {
	root := testpki.NewRoot(t, "Split Root", testpki.Options{})
	srv := root.Server(t, "app.example.com")
	now := time.Now()
	crl := func(id string, scope testpki.CRLScope) *pb.CRL {
		key := pki.IssuerKeyOf(root.Cert)
		// As a store written before scopes were recorded would hold it:
		// NewState reads the scope from the DER.
		return &pb.CRL{Id: id, Der: root.ScopedCRL(t, scope, 1, now.Add(-time.Hour), now.Add(time.Hour)),
			CaId: "ca-1", IssuerNameDer: []byte(key.Name), IssuerSpkiSha256: key.SPKI}
	}
	whole := crl("crl-whole", testpki.CRLScope{})
	cases := []struct {
		name   string
		crls   []*pb.CRL
		pushed bool
		grace  time.Duration // the site's revocation.stale_crl_grace
	}{
		{"one CRL for the whole issuer", []*pb.CRL{whole}, true, 0},
		{"whole CRL and an ARL", []*pb.CRL{whole, crl("crl-arl", testpki.CRLScope{CACerts: true})}, false, 0},
		{"end-entity CRL alone", []*pb.CRL{crl("crl-users", testpki.CRLScope{UserCerts: true})}, false, 0},
		{"ARL alone", []*pb.CRL{crl("crl-arl", testpki.CRLScope{CACerts: true})}, false, 0},
		{"one partition", []*pb.CRL{crl("crl-a", testpki.CRLScope{URIs: []string{"http://crl.example.com/a.crl"}})}, false, 0},
		// Envoy has no grace: it would fail handshakes at nextUpdate.
		{"one CRL, a site with a stale-CRL grace", []*pb.CRL{whole}, false, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			site := &pb.Site{Hostname: "app.example.com", OriginUrl: "http://127.0.0.1:8080", CaIds: []string{"ca-1"},
				Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}}
			if tc.grace > 0 {
				site.Settings.Revocation = &pb.Revocation{StaleCrlGrace: durationpb.New(tc.grace)}
			}
			if err := store.NormalizeSettings(site.Settings, store.Limits{}); err != nil {
				t.Fatal(err)
			}
			site.ServerCertificate = &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
				CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM())}}}
			st := store.NewState(1, []*pb.ClientCA{{Id: "ca-1", Name: "split", BundlePem: string(root.PEM())}}, []*pb.Site{site}, tc.crls)
			var vc *tlsv3.CertificateValidationContext
			for _, s := range translate(t, st).Secrets {
				if s.GetName() == "client-ca/app.example.com" {
					vc = s.GetValidationContext()
				}
			}
			if vc == nil {
				t.Fatal("no client-CA secret")
			}
			if pushed := vc.GetCrl() != nil; pushed != tc.pushed {
				t.Fatalf("CRL given to Envoy: %v, want %v", pushed, tc.pushed)
			}
		})
	}
}
