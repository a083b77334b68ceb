package authz_test

import (
	"context"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestFailingSiteFailsClosedAlone: a site whose policy stops compiling
// (here, header names the store refuses) denies every request and reports
// why; the other sites' changes apply in the same load, and the site works
// again once repaired.
func TestFailingSiteFailsClosedAlone(t *testing.T) {
	p := newPKI(t)
	svc := authz.New(authz.Options{})
	ca := &pb.ClientCA{Id: "ca-1", Name: "clients", BundlePem: string(testpki.Bundle(p.root, p.inter))}
	site := func(host string, mode pb.Mode, headers map[string]string) *pb.Site {
		s := &pb.Site{Hostname: host, OriginUrl: "http://127.0.0.1:8080", CaIds: []string{"ca-1"},
			Settings: &pb.ClientCertSettings{Mode: mode, Headers: headers}}
		if err := store.NormalizeSettings(s.Settings, store.Limits{}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	bad := map[string]string{"subject": "Not A Header Name"} // set after normalising: the store refuses it
	withBad := func(s *pb.Site) *pb.Site {
		s = proto.Clone(s).(*pb.Site)
		s.Settings.Headers = bad
		return s
	}
	a, b := site("a.example.com", pb.Mode_MODE_ENFORCE, nil), site("b.example.com", pb.Mode_MODE_PERMISSIVE, nil)
	svc.Load(model.Compile(store.NewState(1, []*pb.ClientCA{ca}, []*pb.Site{a, b}, nil), nil))
	// a breaks, b turns to enforce, c is broken from the start.
	c := withBad(site("c.example.com", pb.Mode_MODE_ENFORCE, nil))
	svc.Load(model.Compile(store.NewState(2, []*pb.ClientCA{ca}, []*pb.Site{withBad(a), site("b.example.com", pb.Mode_MODE_ENFORCE, nil), c}, nil), nil))

	check := func(host string, cert *testpki.Cert) *authv3.CheckResponse {
		resp, err := svc.Check(context.Background(), envoyRequest(req{ext: host, sni: host, host: host, cert: cert}))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	assertResponse(t, check("a.example.com", p.good), want{status: 503, reason: "policy_error"})
	assertResponse(t, check("b.example.com", nil), want{status: 403, reason: "no_certificate"})
	assertResponse(t, check("b.example.com", p.good), want{allow: true, verify: "SUCCESS"})
	assertResponse(t, check("c.example.com", p.good), want{status: 503, reason: "policy_error"})
	for _, h := range []string{"a.example.com", "c.example.com"} {
		if e := svc.SiteError(h); !strings.Contains(e, "headers") {
			t.Fatalf("%s error: %q", h, e)
		}
	}
	// Repaired, a's new policy applies.
	svc.Load(model.Compile(store.NewState(3, []*pb.ClientCA{ca}, []*pb.Site{site("a.example.com", pb.Mode_MODE_PERMISSIVE, nil)}, nil), nil))
	assertResponse(t, check("a.example.com", nil), want{allow: true, verify: "NONE"})
	if e := svc.SiteError("a.example.com"); e != "" {
		t.Fatalf("repaired site reports %q", e)
	}
}
