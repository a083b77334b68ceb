package authz_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/promtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/nodeid"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// nodeAuthz is an ext_authz server requiring node identities, fed from a
// real store with a site on every fleet, one on "eu" and one on "us" (all
// disabled: any request to them is allowed, so an answer is an OK).
type nodeAuthz struct {
	pki     *nodetest.PKI
	store   *store.Store
	svc     *authz.Service
	metrics *prometheus.Registry
	addr    string
}

func newNodeAuthz(t *testing.T, pki *nodetest.PKI, st *store.Store, creds credentials.TransportCredentials) *nodeAuthz {
	t.Helper()
	a := &nodeAuthz{pki: pki, store: st, metrics: prometheus.NewRegistry()}
	a.svc = authz.New(authz.Options{RequireNodeIdentity: true, Metrics: authz.NewMetrics(a.metrics)})
	a.svc.Load(model.Compile(st.Current(), nil))
	g := authz.NewGRPCServer(a.svc, grpc.Creds(creds))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(ln) }()
	t.Cleanup(func() { g.Stop(); <-done })
	a.addr = ln.Addr().String()
	return a
}

func nodeStore(t *testing.T) *store.Store {
	st := nodetest.Store(t)
	nodetest.Site(t, st, "all.example.com", pb.Mode_MODE_DISABLED)
	nodetest.Site(t, st, "eu.example.com", pb.Mode_MODE_DISABLED, "eu")
	nodetest.Site(t, st, "us.example.com", pb.Mode_MODE_DISABLED, "us")
	return st
}

// node issues and records a node certificate, and loads the State.
func (a *nodeAuthz) node(t *testing.T, fleet, id string) *testpki.Cert {
	t.Helper()
	c := a.pki.Node(t, fleet, id)
	nodetest.Record(t, a.store, c)
	a.svc.Load(model.Compile(a.store.Current(), nil))
	return c
}

func (a *nodeAuthz) client(t *testing.T, creds credentials.TransportCredentials) authv3.AuthorizationClient {
	t.Helper()
	conn, err := grpc.NewClient(a.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// checkSite asks about host as Envoy does (the route's site extension).
func checkSite(c authv3.AuthorizationClient, host string) (*authv3.CheckResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Check(ctx, envoyRequest(req{ext: host, sni: host, host: host}))
}

// TestNodeIdentityOnCheck: a caller that is not an unrevoked node gets an
// error and never an answer; a node gets answers for its fleet's sites and
// the every-fleet ones, and a wrong_fleet denial for another fleet's.
func TestNodeIdentityOnCheck(t *testing.T) {
	pki := nodetest.NewPKI(t)
	st := nodeStore(t)
	strict := newNodeAuthz(t, pki, st, pki.ServerCreds(tls.RequireAndVerifyClientCert))
	// Servers that let unverified peers reach Check: it must refuse them.
	lax := newNodeAuthz(t, pki, st, pki.ServerCreds(tls.RequestClientCert))
	plain := newNodeAuthz(t, pki, st, insecure.NewCredentials())
	eu := strict.node(t, "eu", "edge-1")
	revoked := strict.node(t, "eu", "edge-r")
	nodetest.Revoke(t, st, revoked)
	strict.svc.Load(model.Compile(st.Current(), nil))
	for _, c := range []struct {
		name  string
		a     *nodeAuthz
		creds credentials.TransportCredentials
		code  codes.Code
	}{
		{"plaintext client", strict, insecure.NewCredentials(), codes.Unavailable},
		{"plaintext client, plaintext server", plain, insecure.NewCredentials(), codes.Unauthenticated},
		{"no client certificate", lax, pki.ClientCreds(nil), codes.Unauthenticated},
		{"certificate of another CA", strict, pki.ClientCreds(nodetest.NodeFrom(t, pki.Other, "eu", "edge-1")), codes.Unavailable},
		{"certificate of another CA, handler", lax, pki.ClientCreds(nodetest.NodeFrom(t, pki.Other, "eu", "edge-1")), codes.Unauthenticated},
		{"certificate without a node name", strict, pki.ClientCreds(pki.CA.Leaf(t, "edge-1", testpki.Options{})), codes.Unauthenticated},
		{"revoked before", strict, pki.ClientCreds(revoked), codes.PermissionDenied},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := checkSite(c.a.client(t, c.creds), "all.example.com")
			if resp != nil || status.Code(err) != c.code {
				t.Fatalf("Check: %v, %v; want no answer and %v", resp, err, c.code)
			}
		})
	}
	if n := promtest.Sum(t, strict.metrics, "mtlsgate_authz_refused_calls_total"); n == 0 {
		t.Error("refused calls not counted")
	}
	client := strict.client(t, pki.ClientCreds(eu))
	for host, want := range map[string]codes.Code{
		"all.example.com": codes.OK, "eu.example.com": codes.OK, "us.example.com": codes.PermissionDenied,
	} {
		resp, err := checkSite(client, host)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		if got := codes.Code(resp.GetStatus().GetCode()); got != want {
			t.Fatalf("%s: answer %v, want %v", host, got, want)
		}
		if want != codes.OK {
			if resp.GetStatus().GetMessage() != "wrong_fleet" || resp.GetDeniedResponse().GetStatus().GetCode() != 403 ||
				!strings.Contains(resp.GetDeniedResponse().GetBody(), "wrong_fleet") {
				t.Fatalf("%s: denial %v", host, resp)
			}
		}
	}
}

// TestRevokedNodeIsRefusedOnItsOpenConnection: a revocation applies to
// the next call on a connection that was answered before.
func TestRevokedNodeIsRefusedOnItsOpenConnection(t *testing.T) {
	pki := nodetest.NewPKI(t)
	st := nodeStore(t)
	a := newNodeAuthz(t, pki, st, pki.ServerCreds(tls.RequireAndVerifyClientCert))
	cert := a.node(t, "us", "edge-1")
	other := a.node(t, "us", "edge-2")
	client, otherClient := a.client(t, pki.ClientCreds(cert)), a.client(t, pki.ClientCreds(other))
	for _, c := range []authv3.AuthorizationClient{client, otherClient} {
		if resp, err := checkSite(c, "us.example.com"); err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
			t.Fatalf("before the revocation: %v, %v", resp, err)
		}
	}
	nodetest.Revoke(t, st, cert)
	a.svc.Load(model.Compile(st.Current(), nil))
	if resp, err := checkSite(client, "us.example.com"); resp != nil || status.Code(err) != codes.PermissionDenied {
		t.Fatalf("after the revocation: %v, %v; want PermissionDenied and no answer", resp, err)
	}
	if resp, err := checkSite(otherClient, "us.example.com"); err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Fatalf("another node of the fleet: %v, %v", resp, err)
	}
}

// TestPlaintextOptOutAnswersAnyCaller: without required identities, a
// plaintext caller is answered about every site, whatever its fleets.
func TestPlaintextOptOutAnswersAnyCaller(t *testing.T) {
	st := nodeStore(t)
	svc := authz.New(authz.Options{})
	svc.Load(model.Compile(st.Current(), nil))
	g := authz.NewGRPCServer(svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(ln) }()
	defer func() { g.Stop(); <-done }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, host := range []string{"all.example.com", "eu.example.com", "us.example.com"} {
		resp, err := checkSite(authv3.NewAuthorizationClient(conn), host)
		if err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
			t.Fatalf("%s: %v, %v", host, resp, err)
		}
	}
}

// TestReviewFinding1_UnknownOrExpiredNodeIsRefused: a certificate of the
// internal CA that the store never recorded is refused; a node whose
// certificate expires is refused on the connection it opened while valid.
func TestReviewFinding1_UnknownOrExpiredNodeIsRefused(t *testing.T) {
	pki := nodetest.NewPKI(t)
	st := nodeStore(t)
	a := newNodeAuthz(t, pki, st, pki.ServerCreds(tls.RequireAndVerifyClientCert))
	unknown := pki.Node(t, "us", "edge-unknown")
	if resp, err := checkSite(a.client(t, pki.ClientCreds(unknown)), "us.example.com"); resp != nil || status.Code(err) != codes.PermissionDenied {
		t.Fatalf("unrecorded node: %v, %v; want PermissionDenied and no answer", resp, err)
	}
	short := pki.CA.Leaf(t, "edge-short", testpki.Options{NotAfter: time.Now().Add(3 * time.Second),
		URIs: []string{nodeid.Identity{Fleet: "us", Node: "edge-short"}.URI()}})
	nodetest.Record(t, st, short)
	a.svc.Load(model.Compile(st.Current(), nil))
	client := a.client(t, pki.ClientCreds(short))
	if resp, err := checkSite(client, "us.example.com"); err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Fatalf("while valid: %v, %v", resp, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := checkSite(client, "us.example.com")
		if status.Code(err) == codes.PermissionDenied && resp == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("an expired node certificate is still answered: %v, %v", resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
