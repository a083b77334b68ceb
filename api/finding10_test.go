package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// auditResults lists "Action:result" of the newest audit events.
func auditResults(t *testing.T, e *env) []string {
	t.Helper()
	evs, err := e.client(e.admin).ListAuditEvents(context.Background(), &pb.ListAuditEventsRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs.GetEvents() {
		out = append(out, ev.GetAction()+":"+ev.GetResult())
	}
	return out
}

// TestFinding10_InvalidUTF8IsRefusedAndAudited: a path or query value that
// is not UTF-8 used to reach the store and come back as a 500, unaudited.
// It is now a 400 naming the field, and a refused mutation is audited; a
// gRPC string that is not UTF-8 is INVALID_ARGUMENT and audited too.
func TestFinding10_InvalidUTF8IsRefusedAndAudited(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		method, path, body, field, audited string
	}{
		{"DELETE", "/v1/sites/%FF.example.com", `{}`, "hostname", "DeleteSite:invalid_argument"},
		{"POST", "/v1/cas?name=%C3%28", `{}`, "name", "CreateClientCA:invalid_argument"},
		{"POST", "/v1/sites/%FF/assign", `{}`, "hostname", "AssignSiteCAs:invalid_argument"},
		{"GET", "/v1/audit?actor=%FF", `{}`, "actor", ""},
		// In a JSON body, protojson refuses the document without saying
		// where: the refusal names the member by its path.
		{"POST", "/v1/sites", "{\"hostname\":\"a.example.com\",\"origin_url\":\"http://\xff\"}", "field origin_url", "CreateSite:invalid_argument"},
		{"PATCH", "/v1/sites/a.example.com/settings", "{\"settings\":{\"pins\":[{\"identity\":\"\xc3\x28\"}]},\"update_mask\":\"pins\"}",
			"field settings.pins[0].identity", "UpdateSiteSettings:invalid_argument"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			before := auditResults(t, e)
			code, _, body := e.do(t, e.admin, tc.method, tc.path, "application/json", []byte(tc.body))
			assertError(t, code, body, 400, "invalid_argument")
			if !strings.Contains(string(body), tc.field) || !strings.Contains(string(body), "UTF-8") {
				t.Fatalf("refusal does not name %s and UTF-8: %s", tc.field, body)
			}
			after := auditResults(t, e)
			if tc.audited != "" && (len(after) != len(before)+1 || after[0] != tc.audited) {
				t.Fatalf("audit log %v, want %s on top", after, tc.audited)
			}
		})
	}
	// gRPC: DeleteSiteRequest{hostname: "\xff"} by hand, since the Go
	// client refuses to marshal it.
	msg := []byte{0x0a, 0x01, 0xff}
	frame := append(grpcFrame(uint32(len(msg))), msg...)
	body := newCountingBody(int64(len(frame)), frame)
	resp := e.post(t, h2c(), e.admin, "/mtlsgate.v1.CertificateManagerService/DeleteSite", "application/grpc", body)
	if grpcStatus(resp) != "3" || !strings.Contains(resp.Trailer.Get("Grpc-Message")+resp.Header.Get("Grpc-Message"), "hostname") {
		t.Fatalf("gRPC invalid UTF-8: grpc-status %q (%s), want 3", grpcStatus(resp), resp.Trailer.Get("Grpc-Message"))
	}
	if got := auditResults(t, e); got[0] != "DeleteSite:invalid_argument" {
		t.Fatalf("gRPC refusal not audited: %v", got)
	}
}

// TestFinding10_SiteManagerSeesOnlyItsSites: a site-scoped token used to
// read every site a CA is assigned to in CA listings.
func TestFinding10_SiteManagerSeesOnlyItsSites(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := e.client(e.admin)
	for _, h := range []string{"mine.example.com", "secret-partner.example.com"} {
		if _, err := c.CreateSite(ctx, siteReq(t, h)); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := c.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: "shared",
		Bundle: testpki.NewRoot(t, "Shared", testpki.Options{}).PEM(), Sites: []string{"mine.example.com", "secret-partner.example.com"}})
	if err != nil || len(ca.GetSites()) != 2 {
		t.Fatalf("setup: %v %v", ca, err)
	}
	other, err := c.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: "other",
		Bundle: testpki.NewRoot(t, "Other", testpki.Options{}).PEM(), Sites: []string{"secret-partner.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.CreateToken(ctx, &pb.CreateTokenRequest{Role: pb.Role_ROLE_SITE_MANAGER, Sites: []string{"mine.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	sm := e.client(tok.GetSecret())
	var seen []string
	list, err := sm.ListClientCAs(ctx, &pb.ListClientCAsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ca := range list.GetCas() {
		seen = append(seen, ca.GetSites()...)
	}
	for _, id := range []string{ca.GetId(), other.GetId()} {
		got, err := sm.GetClientCA(ctx, &pb.GetClientCARequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, got.GetSites()...)
	}
	got, err := sm.UnassignClientCA(ctx, &pb.AssignClientCARequest{Id: ca.GetId(), Sites: []string{"mine.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	seen = append(seen, got.GetSites()...)
	got, err = sm.AssignClientCA(ctx, &pb.AssignClientCARequest{Id: ca.GetId(), Sites: []string{"mine.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	seen = append(seen, got.GetSites()...)
	// Over JSON too.
	code, _, body := e.do(t, tok.GetSecret(), "GET", "/v1/cas", "", nil)
	if code != 200 || strings.Contains(string(body), "secret-partner") {
		t.Fatalf("JSON CA list as site-manager: %d %s", code, body)
	}
	if slices.Contains(seen, "secret-partner.example.com") || !slices.Contains(seen, "mine.example.com") {
		t.Fatalf("site-manager saw sites %v", seen)
	}
	// Errors name only what the caller itself sent.
	_, err = sm.GetSite(ctx, &pb.GetSiteRequest{Hostname: "nope.example.com"})
	if strings.Contains(status.Convert(err).Message(), "secret-partner") {
		t.Fatalf("error leaks a site: %v", err)
	}
	// Other roles still see every site.
	all, err := c.GetClientCA(ctx, &pb.GetClientCARequest{Id: ca.GetId()})
	if err != nil || len(all.GetSites()) != 2 {
		t.Fatalf("admin view: %v %v", all, err)
	}
}

// TestFinding10_InternalErrorsAreNotSent: an error of no known class used
// to reach the client with its text (file paths, store internals). The
// client now gets the class and an id to quote.
func TestFinding10_InternalErrorsAreNotSent(t *testing.T) {
	e := start(t)
	// A closed store fails every write with its own internal error.
	if err := e.srv.Store().Close(); err != nil {
		t.Fatal(err)
	}
	_, err := e.client(e.admin).CreateToken(context.Background(), &pb.CreateTokenRequest{Role: pb.Role_ROLE_VIEWER})
	msg := status.Convert(err).Message()
	if status.Code(err) != codes.Internal || !strings.Contains(msg, "error id ") || strings.Contains(msg, "store") ||
		strings.Contains(msg, "/") || strings.Contains(msg, "closed") {
		t.Fatalf("internal error as sent: %v", err)
	}
	code, _, body := e.do(t, e.admin, "POST", "/v1/tokens", "application/json", []byte(`{"role": "ROLE_VIEWER"}`))
	assertError(t, code, body, 500, "internal")
	if strings.Contains(string(body), "store") || strings.Contains(string(body), "closed") {
		t.Fatalf("internal error as sent over HTTP: %s", body)
	}
}

// TestFinding10_HealthPerService: gRPC health used to answer only the
// empty service name. Each listener now answers SERVING for the services
// it serves, and NOT_SERVING once shutdown begins.
func TestFinding10_HealthPerService(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	dial := func(addr string) healthpb.HealthClient {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return healthpb.NewHealthClient(conn)
	}
	authz := dial(e.srv.AuthzAddr())
	for _, tc := range []struct {
		h       healthpb.HealthClient
		service string
	}{
		{healthpb.NewHealthClient(e.conn), ""},
		{healthpb.NewHealthClient(e.conn), "mtlsgate.v1.CertificateManagerService"},
		{authz, ""},
		{authz, "envoy.service.auth.v3.Authorization"},
		{dial(e.srv.XDSAddr()), "envoy.service.discovery.v3.AggregatedDiscoveryService"},
	} {
		resp, err := tc.h.Check(ctx, &healthpb.HealthCheckRequest{Service: tc.service})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v %v", tc.service, resp, err)
		}
	}
	if _, err := authz.Check(ctx, &healthpb.HealthCheckRequest{Service: "mtlsgate.v1.CertificateManagerService"}); status.Code(err) != codes.NotFound {
		t.Errorf("authz listener claims the admin service: %v", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := authz.Watch(wctx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := w.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v %v", resp, err)
	}
	e.stop()
	if resp, err := w.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch during shutdown: %v %v", resp, err)
	}
	cancel() // lets the graceful stop finish
}
