package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestAuditFilterValidation: a filter ListAuditEvents cannot take is
// INVALID_ARGUMENT naming its field; every result the log can hold is
// taken.
func TestAuditFilterValidation(t *testing.T) {
	e := start(t)
	c := e.client(e.admin)
	ctx := context.Background()
	for _, tc := range []struct {
		req   *pb.ListAuditEventsRequest
		field string // "" when accepted
	}{
		{&pb.ListAuditEventsRequest{Limit: 1001}, "limit: "},
		{&pb.ListAuditEventsRequest{Action: "CreateSite"}, ""},
		{&pb.ListAuditEventsRequest{Action: "createsite"}, ""},
		{&pb.ListAuditEventsRequest{Action: "Create Site"}, "action: "},
		{&pb.ListAuditEventsRequest{Action: "Create_Site"}, "action: "},
		{&pb.ListAuditEventsRequest{Action: strings.Repeat("A", 64)}, ""},
		{&pb.ListAuditEventsRequest{Action: strings.Repeat("A", 65)}, "action: "},
		{&pb.ListAuditEventsRequest{Object: "site/ä.example"}, ""},
		{&pb.ListAuditEventsRequest{Object: strings.Repeat("o", 256)}, ""},
		{&pb.ListAuditEventsRequest{Object: strings.Repeat("o", 257)}, "object: "},
		{&pb.ListAuditEventsRequest{Result: "bogus"}, "result: "},
		{&pb.ListAuditEventsRequest{Result: "PERMISSION_DENIED"}, "result: "},
		{&pb.ListAuditEventsRequest{Result: "PermissionDenied"}, "result: "},
		{&pb.ListAuditEventsRequest{Result: "o_k"}, "result: "},
		{&pb.ListAuditEventsRequest{Result: "code(17)"}, "result: "},
	} {
		_, err := c.ListAuditEvents(ctx, tc.req)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.req, err)
			}
			continue
		}
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tc.field) {
			t.Errorf("%v: %v, want INVALID_ARGUMENT %q…", tc.req, err, tc.field)
		}
	}
	// The results the log holds: ok, failed, and each code but OK in
	// snake case, as written out in docs/api.md.
	for _, r := range []string{"ok", "failed", "canceled", "unknown", "invalid_argument", "deadline_exceeded",
		"not_found", "already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
		"aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss", "unauthenticated"} {
		if _, err := c.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{Result: r}); err != nil {
			t.Errorf("result %q: %v", r, err)
		}
	}
}

// TestAuditFiltersOverJSON: GET /v1/audit takes action, object and result
// as query parameters, together with actor and limit.
func TestAuditFiltersOverJSON(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := e.client(e.admin)
	for _, h := range []string{"a.example.com", "b.example.com"} {
		if _, err := c.CreateSite(ctx, siteReq(t, h)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := c.CreateToken(ctx, &pb.CreateTokenRequest{Role: pb.Role_ROLE_VIEWER})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client(v.GetSecret()).DeleteSite(ctx, &pb.DeleteSiteRequest{Hostname: "b.example.com"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("viewer's delete: %v", err)
	}
	for _, tc := range []struct {
		query url.Values
		want  []string // action object result, newest first
	}{
		{url.Values{"action": {"createsite"}}, []string{"CreateSite site/b.example.com ok", "CreateSite site/a.example.com ok"}},
		{url.Values{"object": {"b.example"}}, []string{"DeleteSite site/b.example.com permission_denied", "CreateSite site/b.example.com ok"}},
		{url.Values{"result": {"failed"}}, []string{"DeleteSite site/b.example.com permission_denied"}},
		{url.Values{"result": {"ok"}, "object": {"site/"}, "limit": {"1"}}, []string{"CreateSite site/b.example.com ok"}},
		{url.Values{"result": {"permission_denied"}, "actor": {v.GetToken().GetId()}}, []string{"DeleteSite site/b.example.com permission_denied"}},
		{url.Values{"action": {"DeleteSite"}, "result": {"ok"}}, nil},
	} {
		code, _, body := e.do(t, e.admin, "GET", "/v1/audit?"+tc.query.Encode(), "", nil)
		var resp struct {
			Events []struct{ Action, Object, Result string }
		}
		if err := json.Unmarshal(body, &resp); code != 200 || err != nil {
			t.Fatalf("%v: %d %s", tc.query, code, body)
		}
		var got []string
		for _, ev := range resp.Events {
			got = append(got, ev.Action+" "+ev.Object+" "+ev.Result)
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%v: %q, want %q", tc.query, got, tc.want)
		}
	}
	code, _, body := e.do(t, e.admin, "GET", "/v1/audit?result=nope", "", nil)
	if code != 400 || !strings.Contains(string(body), `"invalid_argument"`) || !strings.Contains(string(body), `result: must be one of ok, failed, canceled`) {
		t.Errorf("bad result over JSON: %d %s", code, body)
	}
}
