package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestXFCCSettings: the certificate source defaults to the peer and the
// hop to 1; trusted peers are stored canonical, sorted and once; bad
// values are refused naming the field, and nothing changes.
func TestXFCCSettings(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	got, err := f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{}, []string{"mode"})
	if err != nil || got.GetCertificateSource() != pb.CertificateSource_CERTIFICATE_SOURCE_PEER || got.GetXfcc().GetHop() != 1 || got.GetXfcc().GetForward() {
		t.Fatalf("defaults: %v %v", got, err)
	}
	got, err = f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{
		CertificateSource: pb.CertificateSource_CERTIFICATE_SOURCE_XFCC,
		Xfcc: &pb.XFCCSettings{Hop: 2, TrustedBy: []string{"spiffe://b", "spiffe://a", "spiffe://b"},
			TrustedPeers: []string{"10.1.2.3/8", "192.0.2.1", "::ffff:10.0.0.0/104", "2001:db8::1/32"}, Forward: true},
	}, []string{"certificate_source", "xfcc"})
	if err != nil {
		t.Fatal(err)
	}
	x := got.GetXfcc()
	if x.GetHop() != 2 || !x.GetForward() || !slices.Equal(x.GetTrustedBy(), []string{"spiffe://a", "spiffe://b"}) ||
		!slices.Equal(x.GetTrustedPeers(), []string{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"}) {
		t.Fatalf("stored %v", x)
	}
	before := f.s.Current()
	for _, tc := range []struct {
		field string
		set   *pb.ClientCertSettings
	}{
		{"certificate_source", &pb.ClientCertSettings{CertificateSource: 3}},
		{"xfcc.hop", &pb.ClientCertSettings{Xfcc: &pb.XFCCSettings{Hop: 17}}},
		{"xfcc.trusted_peers", &pb.ClientCertSettings{Xfcc: &pb.XFCCSettings{Hop: 2}}},
		{"xfcc.trusted_by[0]", &pb.ClientCertSettings{Xfcc: &pb.XFCCSettings{TrustedBy: []string{"gateway"}}}},
		{"xfcc.trusted_by[1]", &pb.ClientCertSettings{Xfcc: &pb.XFCCSettings{TrustedBy: []string{"spiffe://a", "spiffe://a;b"}}}},
		{"xfcc.trusted_by[0]", &pb.ClientCertSettings{Xfcc: &pb.XFCCSettings{TrustedBy: []string{""}}}},
		{"xfcc.trusted_peers[0]", &pb.ClientCertSettings{Xfcc: &pb.XFCCSettings{TrustedPeers: []string{"10.0.0.0/33"}}}},
		{"xfcc.trusted_peers[0]", &pb.ClientCertSettings{Xfcc: &pb.XFCCSettings{TrustedPeers: []string{"fe80::1%eth0"}}}},
		{"xfcc.trusted_peers[0]", &pb.ClientCertSettings{Xfcc: &pb.XFCCSettings{TrustedPeers: []string{"gateway.internal"}}}},
		{"xfcc", &pb.ClientCertSettings{Xfcc: &pb.XFCCSettings{TrustedPeers: slices.Repeat([]string{"10.0.0.0/8"}, 65)}}},
	} {
		path := "xfcc"
		if tc.field == "certificate_source" {
			path = tc.field
		}
		_, err := f.s.UpdateSettings(ctx, admin, "app.example.com", tc.set, []string{path})
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%v: %v, want ErrInvalid naming %s", tc.set, err, tc.field)
		}
	}
	unchanged(t, f.s, before)
}
