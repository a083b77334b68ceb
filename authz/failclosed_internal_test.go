package authz

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mtlsgate/mtlsgate/originhdr"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func checkReq(host string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		TlsSession: &authv3.AttributeContext_TLSSession{Sni: host},
		Request:    &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Host: host, Path: "/"}},
	}}
}

// TestFailClosed: a site whose policy could not be compiled, and a check
// that panics, both deny.
func TestFailClosed(t *testing.T) {
	svc := New(Options{})
	svc.table.Store(&Table{sites: map[string]*sitePolicy{
		"broken.example.com": {key: "broken.example.com", err: errors.New("bad bundle")},
		// Half-built policies: no header names, no trust pool.
		"nonames.example.com": {key: "nonames.example.com", mode: pb.Mode_MODE_DISABLED, pool: x509.NewCertPool()},
		"nopool.example.com":  {key: "nopool.example.com", mode: pb.Mode_MODE_ENFORCE, names: &originhdr.Names{}},
	}})
	for host, status := range map[string]int32{"broken.example.com": 503, "nonames.example.com": 503, "nopool.example.com": 503} {
		resp, err := svc.Check(context.Background(), checkReq(host))
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetDeniedResponse()
		if d == nil || int32(d.GetStatus().GetCode()) != status || resp.GetStatus().GetCode() != 7 {
			t.Errorf("%s: got %v, want a %d denial", host, resp, status)
		}
	}
	// A panic inside the check (here: no table at all) denies with 500.
	svc.table.Store(nil)
	resp, err := svc.Check(context.Background(), checkReq("broken.example.com"))
	if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 500 {
		t.Fatalf("panicking check: %v %v", resp, err)
	}
}
